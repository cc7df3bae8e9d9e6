/**
 * The Yahoo Streaming Benchmark's workload: ad events (view, click, purchase) over 100 campaigns of 10
 * ads each. The query (bench/queries/ysb.ts) keeps views, joins each ad to its campaign through a table
 * (`ysb-ads`: ad_id -> campaign_id) and counts views per campaign in 10 s tumbling windows.
 *
 * Event shape as in the original benchmark: `user_id`, `page_id`, `ad_id` (UUIDs), `ad_type`,
 * `event_type`, `event_time` (ms), `ip_address`. 100 users and 100 pages, ads and event types uniform.
 * Event n happens at `baseTimeMs + floor(n * 1000 / eventsPerSecond)`; every choice of event n comes
 * from a generator seeded with (seed, n), so the stream is deterministic per seed.
 *
 * @example
 * ```ts
 * const gen = new YsbGenerator({ eventsPerSecond: 100_000 });
 * const ads = gen.ads();                 // the table: 1,000 { ad_id, campaign_id }
 * const first = gen.event(0);            // { user_id, page_id, ad_id, ad_type, event_type, event_time, ip_address }
 * ```
 */
import { EventRng } from './random.js';

/** One ad event. */
export interface YsbEvent {
  readonly user_id: string;
  readonly page_id: string;
  readonly ad_id: string;
  readonly ad_type: string;
  readonly event_type: 'view' | 'click' | 'purchase';
  /** Event time, ms since the epoch. */
  readonly event_time: number;
  readonly ip_address: string;
}

/** A row of the ads table: which campaign an ad belongs to. */
export interface YsbAd {
  readonly ad_id: string;
  readonly campaign_id: string;
}

/** The YSB generator's parameters. */
export interface YsbConfig {
  readonly seed: number;
  readonly eventsPerSecond: number;
  readonly baseTimeMs: number;
  readonly campaigns: number;
  readonly adsPerCampaign: number;
}

/** The original benchmark's shape: 100 campaigns of 10 ads; 100,000 events/s of event time. */
export const YSB_DEFAULTS: YsbConfig = Object.freeze({
  seed: 1,
  eventsPerSecond: 100_000,
  baseTimeMs: Date.UTC(2026, 0, 1),
  campaigns: 100,
  adsPerCampaign: 10,
});

/** Users and pages in the original generator's pools. */
const USERS = 100;
const PAGES = 100;
const AD_TYPES = ['banner', 'modal', 'sponsored-search', 'mail', 'mobile'] as const;
const EVENT_TYPES = ['view', 'click', 'purchase'] as const;

/**
 * Generates YSB events by number; `event(n)` is a pure function of (config, n).
 *
 * @example
 * ```ts
 * const gen = new YsbGenerator({ eventsPerSecond: 1_000 });
 * for (const batch of gen.batches(0, 10_000)) send(batch);
 * ```
 */
export class YsbGenerator {
  readonly config: YsbConfig;
  private readonly rng = new EventRng();
  private readonly adIds: string[];
  private readonly campaignIds: string[];
  private readonly userIds: string[];
  private readonly pageIds: string[];

  constructor(config: Partial<YsbConfig> = {}) {
    this.config = { ...YSB_DEFAULTS, ...config };
    const { campaigns, adsPerCampaign, seed } = this.config;
    if (!(this.config.eventsPerSecond > 0) || !(campaigns > 0) || !(adsPerCampaign > 0)) throw new RangeError('ysb config: rates and counts must be positive');
    // Ids come from their own seeds (negative "event numbers" are never events).
    this.campaignIds = Array.from({ length: campaigns }, (_, i) => this.uuid(seed + 1, i));
    this.adIds = Array.from({ length: campaigns * adsPerCampaign }, (_, i) => this.uuid(seed + 2, i));
    this.userIds = Array.from({ length: USERS }, (_, i) => this.uuid(seed + 3, i));
    this.pageIds = Array.from({ length: PAGES }, (_, i) => this.uuid(seed + 4, i));
  }

  /** The ads table: ad i belongs to campaign floor(i / adsPerCampaign). */
  ads(): YsbAd[] {
    return this.adIds.map((ad_id, i) => ({ ad_id, campaign_id: this.campaignIds[Math.floor(i / this.config.adsPerCampaign)]! }));
  }

  timestampOf(n: number): number {
    return this.config.baseTimeMs + Math.floor((n * 1000) / this.config.eventsPerSecond);
  }

  event(n: number): YsbEvent {
    const rng = this.rng;
    rng.reseed(this.config.seed, n);
    return {
      user_id: this.userIds[rng.int(USERS)]!,
      page_id: this.pageIds[rng.int(PAGES)]!,
      ad_id: this.adIds[rng.int(this.adIds.length)]!,
      ad_type: AD_TYPES[rng.int(AD_TYPES.length)]!,
      event_type: EVENT_TYPES[rng.int(EVENT_TYPES.length)]!,
      event_time: this.timestampOf(n),
      ip_address: '1.2.3.4',
    };
  }

  /** Events [from, to) in arrays of at most `size`. */
  *batches(from: number, to: number, size = 4096): Generator<YsbEvent[]> {
    for (let start = from; start < to; start += size) {
      const end = Math.min(to, start + size);
      const out: YsbEvent[] = new Array(end - start);
      for (let n = start; n < end; n++) out[n - start] = this.event(n);
      yield out;
    }
  }

  private uuid(seed: number, i: number): string {
    const rng = this.rng;
    rng.reseed(seed, i);
    const hex = (n: number) => {
      let s = '';
      for (let k = 0; k < n; k++) s += HEX[rng.int(16)];
      return s;
    };
    return `${hex(8)}-${hex(4)}-4${hex(3)}-${HEX[8 + rng.int(4)]}${hex(3)}-${hex(12)}`;
  }
}

const HEX = '0123456789abcdef';
