/**
 * The Nexmark event generator: a TypeScript port of the model of the standard (Apache Beam) Nexmark
 * generator, written from its documented facts, not its code.
 *
 * - Events are numbered 0, 1, 2, ...; the type of event n follows from its id: of every 50 ids, 1 is a
 *   Person, 3 are Auctions and 46 are Bids (`PROPORTIONS`).
 * - Ids grow with the event id: person ids and auction ids start at 1000 and count the persons and
 *   auctions generated so far, so any event can be generated alone, from its number.
 * - Sellers: with probability 1 - 1/hotSellersRatio (4) the seller is a "hot" person (the first of the
 *   last block of 100 persons), otherwise one of the last `numActivePeople` (1,000) persons, or up to 10
 *   ahead (a person not created yet). Bids: an auction is hot with probability 1 - 1/hotAuctionRatio (2)
 *   (the first of the last block of 100 auctions), otherwise one of the last `numInFlightAuctions` (100)
 *   auctions or up to 10 ahead; a bidder is hot with probability 1 - 1/hotBiddersRatio (4).
 * - Prices are 10^(6u) * 100 cents (u uniform in [0, 1)), rounded; 5 categories (10..14); an auction
 *   expires within twice the time 100 auctions take to be generated.
 * - Event time: event n happens at `baseTimeMs + floor(n * 1000 / eventsPerSecond)`. With
 *   `outOfOrderGroupSize` g > 1, ids are shuffled within groups of g events while times stay in order.
 * - Every random choice of event n comes from a generator seeded with (seed, n): deterministic per seed.
 * - `extra` pads each event so that its JSON encoding averages `avgPersonBytes` (200),
 *   `avgAuctionBytes` (500) and `avgBidBytes` (100).
 *
 * @example
 * ```ts
 * const gen = new NexmarkGenerator({ eventsPerSecond: 100_000 });
 * for (const batch of gen.batches(0, 1_000_000)) for (const e of batch) if (e.type === 'bid') use(e.price);
 * ```
 */
import { EventRng } from './random.js';

/** A new person registering. */
export interface Person {
  readonly type: 'person';
  readonly id: number;
  readonly name: string;
  readonly emailAddress: string;
  readonly creditCard: string;
  readonly city: string;
  readonly state: string;
  /** Event time, ms since the epoch. */
  readonly dateTime: number;
  readonly extra: string;
}

/** A new auction, open from `dateTime` to `expires`. */
export interface Auction {
  readonly type: 'auction';
  readonly id: number;
  readonly itemName: string;
  readonly description: string;
  readonly initialBid: number;
  readonly reserve: number;
  readonly dateTime: number;
  readonly expires: number;
  readonly seller: number;
  readonly category: number;
  readonly extra: string;
}

/** A bid on an auction (prices in cents). */
export interface Bid {
  readonly type: 'bid';
  readonly auction: number;
  readonly bidder: number;
  readonly price: number;
  readonly dateTime: number;
  readonly extra: string;
}

/** One Nexmark event: the three kinds share one stream (and one topic), told apart by `type`. */
export type NexmarkEvent = Person | Auction | Bid;

/** The generator's parameters; every field has the standard default. */
export interface NexmarkConfig {
  /** Seed of every random choice. Default 1. */
  readonly seed: number;
  /** Events per second of event time (the inter-event delay is 1/rate). Default 100,000. */
  readonly eventsPerSecond: number;
  /** Event time of event 0. Default 2026-01-01T00:00:00Z. */
  readonly baseTimeMs: number;
  readonly hotAuctionRatio: number;
  readonly hotSellersRatio: number;
  readonly hotBiddersRatio: number;
  readonly numInFlightAuctions: number;
  readonly numActivePeople: number;
  /** Ids are shuffled within groups of this many events (1: in order). Default 1. */
  readonly outOfOrderGroupSize: number;
  readonly avgPersonBytes: number;
  readonly avgAuctionBytes: number;
  readonly avgBidBytes: number;
}

/** The standard generator's defaults (Beam's GeneratorConfig). */
export const NEXMARK_DEFAULTS: NexmarkConfig = Object.freeze({
  seed: 1,
  eventsPerSecond: 100_000,
  baseTimeMs: Date.UTC(2026, 0, 1),
  hotAuctionRatio: 2,
  hotSellersRatio: 4,
  hotBiddersRatio: 4,
  numInFlightAuctions: 100,
  numActivePeople: 1_000,
  outOfOrderGroupSize: 1,
  avgPersonBytes: 200,
  avgAuctionBytes: 500,
  avgBidBytes: 100,
});

/** Of every `total` event ids, `person` are persons, the next `auction` auctions, the rest bids. */
export const PROPORTIONS = Object.freeze({ person: 1, auction: 3, bid: 46, total: 50 });
/** Person ids start here (base-0 id + this). */
export const FIRST_PERSON_ID = 1000;
/** Auction ids start here. */
export const FIRST_AUCTION_ID = 1000;
/** Categories are FIRST_CATEGORY_ID .. FIRST_CATEGORY_ID + NUM_CATEGORIES - 1. */
export const FIRST_CATEGORY_ID = 10;
export const NUM_CATEGORIES = 5;
/** Hot auctions, sellers and bidders are the first of blocks of this many. */
const HOT_BLOCK = 100;
/** Sellers and bidders may be up to this many persons ahead of the last one created. */
const PERSON_ID_LEAD = 10;
/** Bids may name auctions up to this many ahead of the last one created. */
const AUCTION_ID_LEAD = 10;

const FIRST_NAMES = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter'];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];
const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'];
const US_CITIES = ['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne'];

/**
 * Fills in defaults and checks the parameters.
 *
 * @example
 * ```ts
 * const config = nexmarkConfig({ eventsPerSecond: 1_000, seed: 7 });
 * ```
 */
export function nexmarkConfig(overrides: Partial<NexmarkConfig> = {}): NexmarkConfig {
  const config = { ...NEXMARK_DEFAULTS, ...overrides };
  for (const [k, v] of Object.entries(config)) {
    if (!Number.isFinite(v) || (k !== 'baseTimeMs' && k !== 'seed' && !(v > 0))) throw new RangeError(`nexmark config: ${k} must be a positive number, got ${v}`);
  }
  if (!Number.isInteger(config.outOfOrderGroupSize)) throw new RangeError('nexmark config: outOfOrderGroupSize must be an integer');
  return config;
}

/**
 * Base-0 id of the last person created up to event id `eventId` (included).
 *
 * @example
 * ```ts
 * lastBase0PersonId(0);  // 0: event 0 is the first person
 * lastBase0PersonId(75); // 1
 * ```
 */
export function lastBase0PersonId(eventId: number): number {
  const epoch = Math.floor(eventId / PROPORTIONS.total);
  let offset = eventId % PROPORTIONS.total;
  if (offset >= PROPORTIONS.person) offset = PROPORTIONS.person - 1;
  return epoch * PROPORTIONS.person + offset;
}

/**
 * Base-0 id of the last auction created up to event id `eventId` (included; -1 before the first).
 *
 * @example
 * ```ts
 * lastBase0AuctionId(0); // -1: no auction yet
 * lastBase0AuctionId(3); // 2
 * ```
 */
export function lastBase0AuctionId(eventId: number): number {
  let epoch = Math.floor(eventId / PROPORTIONS.total);
  let offset = eventId % PROPORTIONS.total;
  if (offset < PROPORTIONS.person) {
    epoch--;
    offset = PROPORTIONS.auction - 1;
  } else if (offset >= PROPORTIONS.person + PROPORTIONS.auction) {
    offset = PROPORTIONS.auction - 1;
  } else {
    offset -= PROPORTIONS.person;
  }
  return epoch * PROPORTIONS.auction + offset;
}

/**
 * Time bounds implied by the model, which the queries use to bound their join state (and which the
 * oracle, computing unbounded SQL joins, checks on every run):
 * - `maxAuctionDurationMs`: `expires - dateTime` of any auction is at most this;
 * - a seller (a person) is created at most `sellerBeforeAuctionMs` before and at most
 *   `sellerAfterAuctionMs` after an auction that names it.
 *
 * @example
 * ```ts
 * const { maxAuctionDurationMs } = nexmarkBounds(nexmarkConfig({ eventsPerSecond: 100_000 })); // 36
 * ```
 */
export function nexmarkBounds(config: NexmarkConfig): { maxAuctionDurationMs: number; sellerBeforeAuctionMs: number; sellerAfterAuctionMs: number } {
  const g = config.outOfOrderGroupSize;
  const msFor = (events: number) => Math.ceil((events * 1000) / config.eventsPerSecond) + 1;
  const eventsForAuctions = Math.floor((config.numInFlightAuctions * PROPORTIONS.total) / PROPORTIONS.auction);
  return {
    maxAuctionDurationMs: 2 * msFor(eventsForAuctions + g),
    sellerBeforeAuctionMs: msFor((config.numActivePeople + 1) * PROPORTIONS.total + 2 * g),
    sellerAfterAuctionMs: msFor((PERSON_ID_LEAD + 1) * PROPORTIONS.total + 2 * g),
  };
}

/** JSON bytes of each kind's fixed part (keys, quotes, commas, type tag), for sizing `extra`. */
const PERSON_OVERHEAD = JSON.stringify({ type: 'person', id: 0, name: '', emailAddress: '', creditCard: '', city: '', state: '', dateTime: 0, extra: '' }).length - 2;
const AUCTION_OVERHEAD =
  JSON.stringify({ type: 'auction', id: 0, itemName: '', description: '', initialBid: 0, reserve: 0, dateTime: 0, expires: 0, seller: 0, category: 0, extra: '' }).length - 7;
const BID_OVERHEAD = JSON.stringify({ type: 'bid', auction: 0, bidder: 0, price: 0, dateTime: 0, extra: '' }).length - 4;

function digits(n: number): number {
  return String(n).length;
}

/**
 * Generates Nexmark events by number. Stateless apart from a reused random generator: `event(n)` is a
 * pure function of (config, n).
 *
 * @example
 * ```ts
 * const gen = new NexmarkGenerator({ seed: 3 });
 * const e = gen.event(12_345); // the same event every time
 * ```
 */
export class NexmarkGenerator {
  readonly config: NexmarkConfig;
  private readonly rng = new EventRng();
  private readonly eventsForAuctions: number;

  constructor(config: Partial<NexmarkConfig> = {}) {
    this.config = nexmarkConfig(config);
    this.eventsForAuctions = Math.floor((this.config.numInFlightAuctions * PROPORTIONS.total) / PROPORTIONS.auction);
  }

  /** Event time of event number `n`. */
  timestampOf(n: number): number {
    return this.config.baseTimeMs + Math.floor((n * 1000) / this.config.eventsPerSecond);
  }

  /** The event id of event number n: n itself, or n shuffled within its out-of-order group. */
  eventIdOf(n: number): number {
    const g = this.config.outOfOrderGroupSize;
    if (g <= 1) return n;
    return Math.floor(n / g) * g + ((n * 953) % g);
  }

  /** Event number `n`. */
  event(n: number): NexmarkEvent {
    const id = this.eventIdOf(n);
    const ts = this.timestampOf(n);
    const rng = this.rng;
    rng.reseed(this.config.seed, id);
    const rem = id % PROPORTIONS.total;
    if (rem < PROPORTIONS.person) return this.person(id, ts);
    if (rem < PROPORTIONS.person + PROPORTIONS.auction) return this.auction(n, id, ts);
    return this.bid(id, ts);
  }

  /** Events [from, to) in arrays of at most `size`. */
  *batches(from: number, to: number, size = 4096): Generator<NexmarkEvent[]> {
    for (let start = from; start < to; start += size) {
      const end = Math.min(to, start + size);
      const out: NexmarkEvent[] = new Array(end - start);
      for (let n = start; n < end; n++) out[n - start] = this.event(n);
      yield out;
    }
  }

  private person(eventId: number, ts: number): Person {
    const rng = this.rng;
    const id = lastBase0PersonId(eventId) + FIRST_PERSON_ID;
    const name = `${FIRST_NAMES[rng.int(FIRST_NAMES.length)]} ${LAST_NAMES[rng.int(LAST_NAMES.length)]}`;
    const emailAddress = `${rng.string(7)}@${rng.string(5)}.com`;
    const creditCard = `${pad4(rng.int(10_000))} ${pad4(rng.int(10_000))} ${pad4(rng.int(10_000))} ${pad4(rng.int(10_000))}`;
    const city = US_CITIES[rng.int(US_CITIES.length)]!;
    const state = US_STATES[rng.int(US_STATES.length)]!;
    const size = PERSON_OVERHEAD + digits(id) + name.length + emailAddress.length + creditCard.length + city.length + state.length + digits(ts);
    const extra = this.extra(size, this.config.avgPersonBytes);
    return { type: 'person', id, name, emailAddress, creditCard, city, state, dateTime: ts, extra };
  }

  private auction(eventNumber: number, eventId: number, ts: number): Auction {
    const rng = this.rng;
    const id = lastBase0AuctionId(eventId) + FIRST_AUCTION_ID;
    let seller: number;
    if (rng.int(this.config.hotSellersRatio) > 0) seller = Math.floor(lastBase0PersonId(eventId) / HOT_BLOCK) * HOT_BLOCK;
    else seller = this.nextBase0PersonId(eventId);
    seller += FIRST_PERSON_ID;
    const category = FIRST_CATEGORY_ID + rng.int(NUM_CATEGORIES);
    const initialBid = this.price();
    const itemName = rng.string(20);
    const description = rng.string(100);
    const reserve = initialBid + this.price();
    // Auctions last up to twice the event time it takes to generate numInFlightAuctions more of them.
    const horizonMs = this.timestampOf(this.eventIdOf(eventNumber) + this.eventsForAuctions) - ts;
    const expires = ts + 1 + Math.floor(rng.next() * Math.max(horizonMs * 2, 1));
    const size =
      AUCTION_OVERHEAD + digits(id) + itemName.length + description.length + digits(initialBid) + digits(reserve) + digits(ts) + digits(expires) + digits(seller) + digits(category);
    const extra = this.extra(size, this.config.avgAuctionBytes);
    return { type: 'auction', id, itemName, description, initialBid, reserve, dateTime: ts, expires, seller, category, extra };
  }

  private bid(eventId: number, ts: number): Bid {
    const rng = this.rng;
    let auction: number;
    if (rng.int(this.config.hotAuctionRatio) > 0) auction = Math.floor(lastBase0AuctionId(eventId) / HOT_BLOCK) * HOT_BLOCK;
    else auction = this.nextBase0AuctionId(eventId);
    auction += FIRST_AUCTION_ID;
    let bidder: number;
    if (rng.int(this.config.hotBiddersRatio) > 0) bidder = Math.floor(lastBase0PersonId(eventId) / HOT_BLOCK) * HOT_BLOCK + 1;
    else bidder = this.nextBase0PersonId(eventId);
    bidder += FIRST_PERSON_ID;
    const price = this.price();
    const size = BID_OVERHEAD + digits(auction) + digits(bidder) + digits(price) + digits(ts);
    const extra = this.extra(size, this.config.avgBidBytes);
    return { type: 'bid', auction, bidder, price, dateTime: ts, extra };
  }

  /** One of the last numActivePeople persons, or up to PERSON_ID_LEAD ahead. */
  private nextBase0PersonId(eventId: number): number {
    const numPeople = lastBase0PersonId(eventId) + 1;
    const active = Math.min(numPeople, this.config.numActivePeople);
    return numPeople - active + this.rng.int(active + PERSON_ID_LEAD);
  }

  /** One of the last numInFlightAuctions auctions, or up to AUCTION_ID_LEAD ahead. */
  private nextBase0AuctionId(eventId: number): number {
    const maxAuction = lastBase0AuctionId(eventId);
    const minAuction = Math.max(maxAuction - this.config.numInFlightAuctions, 0);
    return minAuction + this.rng.int(maxAuction - minAuction + 1 + AUCTION_ID_LEAD);
  }

  /** Cents: 10^(6u) dollars, u uniform in [0, 1). */
  private price(): number {
    return Math.round(10 ** (this.rng.next() * 6) * 100);
  }

  /** Padding so the encoded event averages `average` bytes: uniform within ±20% of what is missing. */
  private extra(size: number, average: number): string {
    if (size >= average) return '';
    const missing = average - size;
    const delta = Math.round(missing * 0.2);
    return this.rng.exactString(missing - delta + (delta === 0 ? 0 : this.rng.int(2 * delta + 1)));
  }
}

function pad4(n: number): string {
  return String(n).padStart(4, '0');
}
