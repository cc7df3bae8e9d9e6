import { crc32c } from '@node-rs/crc32';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import { type StateKey, type StateKind, StateKinds, type StateSerializer } from './state-store.js';

/*
 * The operator snapshot: one operator's state, full or as a delta on an earlier checkpoint. The same
 * format for every backend, so a savepoint taken on one restores on another. Integers little-endian.
 *
 *   snapshot  := magic:u32 ("FSS1") format:u8 (1) type:u8 (0 full | 1 delta)
 *                checkpointId:f64 baseCheckpointId:f64 (NaN for full)
 *                operator:str stateCount:u32 state{stateCount} crc:u32
 *   state     := name:str kind:u8 (1 value | 2 map | 3 window | 4 timers) version:u32 flags:u8
 *                tombstones deletes puts
 *   flags     := bit 0: cleared (a delta that replaces the whole state: clear it first)
 *                bit 1: ttl (put entries carry expiresAtMs)
 *   kind 1 value:   tombstones := 0:u32
 *                   deletes := n:u32 key{n}
 *                   puts    := n:u32 (key expires? value){n}
 *   kind 2 map:     tombstones := n:u32 key{n}                                   (whole maps removed)
 *                   deletes := n:u32 (key m:u32 mapKey{m}){n}
 *                   puts    := n:u32 (key m:u32 (mapKey expires? value){m}){n}
 *   kind 3 window:  tombstones := n:u32 (startMs:f64 endMs:f64){n}               (whole windows removed)
 *                   deletes := n:u32 (startMs:f64 endMs:f64 m:u32 key{m}){n}
 *                   puts    := n:u32 (startMs:f64 endMs:f64 m:u32 (key value){m}){n}
 *   kind 4 timers:  tombstones := 0:u32
 *                   deletes := n:u32 (timeMs:f64 m:u32 key{m}){n}
 *                   puts    := n:u32 (timeMs:f64 m:u32 key{m}){n}
 *   key       := 0:u8 f64 | 1:u8 str
 *   expires?  := expiresAtMs:f64 when the ttl flag is set
 *   value     := len:u32 bytes (the state's serializer output, at the state's version)
 *   str       := len:u32 utf8
 *   crc       := CRC32C of every byte before it
 *
 * Applying a snapshot: clear if flagged, then tombstones, then deletes, then puts. A full snapshot has
 * puts only. Window entries are grouped by window, so a window's bounds are stored once.
 */
const MAGIC = 0x31535346; // "FSS1" little-endian
const FORMAT = 1;
const FLAG_CLEARED = 1;
const FLAG_TTL = 2;
/** Initial size of a snapshot buffer; it doubles as needed. */
const INITIAL_BYTES = 64 * 1024;

/** Builds one operator snapshot. Counts are written as placeholders and patched when known. */
export class SnapshotWriter {
  private buf: Buffer;
  private dv: DataView;
  private pos = 0;
  private stateCountAt = 0;
  private stateCount = 0;

  constructor(
    readonly type: 'full' | 'delta',
    readonly checkpointId: number,
    readonly baseCheckpointId: number | null,
    operator: string,
    sizeHint = INITIAL_BYTES,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(sizeHint, 256));
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    this.u32(MAGIC);
    this.u8(FORMAT);
    this.u8(type === 'full' ? 0 : 1);
    this.f64(checkpointId);
    this.f64(baseCheckpointId ?? Number.NaN);
    this.str(operator);
    this.stateCountAt = this.reserve();
  }

  /** Starts a state; then write tombstones, deletes and puts sections, in that order. */
  beginState(name: string, kind: StateKind, version: number, cleared: boolean, ttl: boolean): void {
    this.stateCount++;
    this.str(name);
    this.u8(StateKinds[kind]);
    this.u32(version);
    this.u8((cleared ? FLAG_CLEARED : 0) | (ttl ? FLAG_TTL : 0));
  }

  /** Reserves a u32 count, returning where to patch it. */
  reserve(): number {
    this.ensure(4);
    const at = this.pos;
    this.pos += 4;
    return at;
  }

  patch(at: number, count: number): void {
    this.dv.setUint32(at, count, true);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.dv.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  str(s: string): void {
    const len = s.length;
    this.ensure(4 + len * 3);
    const buf = this.buf;
    const start = this.pos + 4;
    // Short ASCII strings (typical keys) are copied in JS: cheaper than a native call per key.
    if (len <= 32) {
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        buf[start + i] = c;
      }
      if (i === len) {
        this.dv.setUint32(this.pos, len, true);
        this.pos = start + len;
        return;
      }
    }
    const n = buf.write(s, start, 'utf8');
    this.dv.setUint32(this.pos, n, true);
    this.pos = start + n;
  }

  key(k: StateKey): void {
    if (typeof k === 'number') {
      this.ensure(9);
      this.buf[this.pos] = 0;
      this.dv.setFloat64(this.pos + 1, k, true);
      this.pos += 9;
    } else {
      this.u8(1);
      this.str(k);
    }
  }

  bytes(b: Uint8Array): void {
    this.ensure(4 + b.length);
    this.dv.setUint32(this.pos, b.length, true);
    this.buf.set(b, this.pos + 4);
    this.pos += 4 + b.length;
  }

  /** Copies a length-prefixed value (u32 length, bytes) from `src` at `lengthAt` as it is. */
  copyLengthPrefixed(src: Buffer, lengthAt: number): void {
    const n = 4 + src.readUInt32LE(lengthAt);
    this.ensure(n);
    const buf = this.buf;
    const pos = this.pos;
    // Small values (accumulators) copy faster in JS than through a native call each.
    if (n <= 64) for (let i = 0; i < n; i++) buf[pos + i] = src[lengthAt + i]!;
    else src.copy(buf, pos, lengthAt, lengthAt + n);
    this.pos = pos + n;
  }

  /** A value through its serializer, with `encodeInto` when it has one (no allocation). */
  value<T>(serializer: StateSerializer<T>, v: T): void {
    const max = serializer.maxEncodedBytes;
    if (serializer.encodeInto === undefined || max === undefined) {
      this.bytes(serializer.encode(v));
      return;
    }
    this.ensure(4 + max);
    const n = serializer.encodeInto(v, this.dv, this.pos + 4);
    this.dv.setUint32(this.pos, n, true);
    this.pos += 4 + n;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** Patches the state count, appends the CRC and returns the snapshot (a view when it fills most of the buffer, else a copy). */
  finish(): Uint8Array {
    this.patch(this.stateCountAt, this.stateCount);
    this.ensure(4);
    this.buf.writeUInt32LE(crc32c(this.buf.subarray(0, this.pos)), this.pos);
    this.pos += 4;
    if (this.pos * 2 >= this.buf.length) return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.pos);
    const out = new Uint8Array(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.length);
  }
}

/**
 * The header of an operator snapshot.
 *
 * @example
 * ```ts
 * const h: SnapshotHeader = readSnapshotHeader(bytes);
 * ```
 */
export interface SnapshotHeader {
  readonly type: 'full' | 'delta';
  readonly checkpointId: number;
  readonly baseCheckpointId: number | null;
  readonly operator: string;
}

/**
 * Receives one state of a snapshot while it is decoded. Every method a kind does not use is never
 * called for it. `migrate` upgrades value bytes to the declared version (identity when equal).
 */
export interface StateSink {
  clear(): void;
  valueDelete(key: StateKey): void;
  valuePut(key: StateKey, expiresAtMs: number, bytes: Uint8Array): void;
  mapClear(key: StateKey): void;
  mapDelete(key: StateKey, mapKey: StateKey): void;
  mapPut(key: StateKey, mapKey: StateKey, expiresAtMs: number, bytes: Uint8Array): void;
  windowClear(startMs: number, endMs: number): void;
  windowDelete(startMs: number, endMs: number, key: StateKey): void;
  windowPut(startMs: number, endMs: number, key: StateKey, bytes: Uint8Array): void;
  /**
   * Optional, used instead of windowPut when no migration applies: the value is `src`'s length-prefixed
   * bytes at `lengthAt` (u32 length, then the bytes). `src` is the snapshot itself: keep it unmodified.
   */
  windowPutRaw?: ((startMs: number, endMs: number, key: StateKey, src: Buffer, lengthAt: number) => void) | undefined;
  timerDelete(timeMs: number, key: StateKey): void;
  timerPut(timeMs: number, key: StateKey): void;
}

/** Chooses where each state of a snapshot goes: a sink with its migration, or null to skip it. */
export type StateResolver = (name: string, kind: StateKind, version: number) => { sink: StateSink; migrate: ((old: Uint8Array) => Uint8Array) | null } | null;

const KIND_NAMES = new Map<number, StateKind>(Object.entries(StateKinds).map(([name, code]) => [code, name as StateKind]));

function corrupt(message: string): never {
  throw new FreshetError(ErrorCodes.CHECKPOINT_CORRUPT, `operator snapshot: ${message}`);
}

/**
 * Reads and checks the header (and the CRC over the whole snapshot).
 *
 * @example
 * ```ts
 * const { operator, type, checkpointId, baseCheckpointId } = readSnapshotHeader(part.bytes);
 * ```
 */
export function readSnapshotHeader(bytes: Uint8Array): SnapshotHeader {
  return new SnapshotReader(bytes).header;
}

/** Decodes a snapshot into the sinks `resolve` picks. Throws FRESHET_CHECKPOINT_CORRUPT on damage. */
export function decodeSnapshot(bytes: Uint8Array, resolve: StateResolver): SnapshotHeader {
  const r = new SnapshotReader(bytes);
  const states = r.u32();
  for (let s = 0; s < states; s++) {
    const name = r.str();
    const kind = KIND_NAMES.get(r.u8()) ?? corrupt(`unknown state kind in state '${name}'`);
    const version = r.u32();
    const flags = r.u8();
    const target = resolve(name, kind, version);
    const ttl = (flags & FLAG_TTL) !== 0;
    const sink = target?.sink ?? NULL_SINK;
    const migrate = target?.migrate ?? null;
    const value = (): Uint8Array => (migrate === null ? r.bytes() : migrate(r.bytes()));
    const raw = migrate === null ? sink.windowPutRaw : undefined;
    if (flags & FLAG_CLEARED) sink.clear();
    const tombstones = r.u32();
    for (let i = 0; i < tombstones; i++) {
      if (kind === 'map') sink.mapClear(r.key());
      else if (kind === 'window') sink.windowClear(r.f64(), r.f64());
      else corrupt(`tombstones in a ${kind} state`);
    }
    const deletes = r.u32();
    for (let i = 0; i < deletes; i++) {
      if (kind === 'value') {
        sink.valueDelete(r.key());
        continue;
      }
      const a = kind === 'map' ? r.key() : r.f64();
      const b = kind === 'window' ? r.f64() : 0;
      const m = r.u32();
      for (let j = 0; j < m; j++) {
        if (kind === 'map') sink.mapDelete(a, r.key());
        else if (kind === 'window') sink.windowDelete(a as number, b, r.key());
        else sink.timerDelete(a as number, r.key());
      }
    }
    const puts = r.u32();
    for (let i = 0; i < puts; i++) {
      if (kind === 'value') {
        const key = r.key();
        const expires = ttl ? r.f64() : Number.POSITIVE_INFINITY;
        sink.valuePut(key, expires, value());
        continue;
      }
      const a = kind === 'map' ? r.key() : r.f64();
      const b = kind === 'window' ? r.f64() : 0;
      const m = r.u32();
      for (let j = 0; j < m; j++) {
        if (kind === 'map') {
          const mapKey = r.key();
          const expires = ttl ? r.f64() : Number.POSITIVE_INFINITY;
          sink.mapPut(a, mapKey, expires, value());
        } else if (kind === 'window') {
          const key = r.key();
          if (raw !== undefined) raw(a as number, b, key, r.buffer, r.skipBytes());
          else sink.windowPut(a as number, b, key, value());
        } else sink.timerPut(a as number, r.key());
      }
    }
  }
  if (!r.atEnd()) corrupt('trailing bytes');
  return r.header;
}

const noop = (): void => undefined;
const NULL_SINK: StateSink = {
  clear: noop,
  valueDelete: noop,
  valuePut: noop,
  mapClear: noop,
  mapDelete: noop,
  mapPut: noop,
  windowClear: noop,
  windowDelete: noop,
  windowPut: noop,
  timerDelete: noop,
  timerPut: noop,
};

class SnapshotReader {
  readonly header: SnapshotHeader;
  private readonly buf: Buffer;
  private readonly end: number;
  private pos = 0;

  constructor(bytes: Uint8Array) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    if (bytes.length < 4 + 2 + 16 + 4 + 4 + 4) corrupt(`too short (${bytes.length} bytes)`);
    this.end = bytes.length - 4;
    if (crc32c(this.buf.subarray(0, this.end)) !== this.buf.readUInt32LE(this.end)) corrupt('checksum mismatch');
    if (this.u32() !== MAGIC) corrupt('bad magic');
    if (this.u8() !== FORMAT) corrupt('unknown format version');
    const type = this.u8();
    if (type > 1) corrupt('unknown snapshot type');
    const checkpointId = this.f64();
    const base = this.f64();
    const operator = this.str();
    this.header = { type: type === 0 ? 'full' : 'delta', checkpointId, baseCheckpointId: Number.isNaN(base) ? null : base, operator };
  }

  atEnd(): boolean {
    return this.pos === this.end;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  str(): string {
    const n = this.u32();
    this.need(n);
    const buf = this.buf;
    const start = this.pos;
    this.pos += n;
    // ASCII (typical keys) decodes faster as latin1, which needs no validation.
    for (let i = start; i < start + n; i++) if (buf[i]! > 0x7f) return buf.toString('utf8', start, start + n);
    return buf.toString('latin1', start, start + n);
  }

  key(): StateKey {
    const tag = this.u8();
    if (tag === 0) return this.f64();
    if (tag === 1) return this.str();
    return corrupt(`bad key tag ${tag}`);
  }

  /** The snapshot's bytes (for sinks that keep values by position). */
  get buffer(): Buffer {
    return this.buf;
  }

  /** Skips a length-prefixed value, returning the position of its length. */
  skipBytes(): number {
    const at = this.pos;
    const n = this.u32();
    this.need(n);
    this.pos += n;
    return at;
  }

  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const b = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return b;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) corrupt('truncated');
  }
}
