/**
 * Option definitions shared by several commands, and the parsers that turn option text into typed
 * values. A parser failure is a usage error (exit 2), reported by commander with the option's name.
 */
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseEventTime } from '../server/event-time.js';

/** Default data directory, relative to the working directory. */
export const DEFAULT_DATA_DIR = './.freshet';
/** Default HTTP port of `freshet serve`. */
export const DEFAULT_PORT = 8080;

/** Options every command has. */
export interface CommonOptions {
  dataDir: string;
  verbose?: boolean;
}

/** Adds `--data-dir` (env `FRESHET_DATA_DIR`) and `--verbose` to a command. */
export function withCommonOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--data-dir <dir>', 'directory holding the log').env('FRESHET_DATA_DIR').default(DEFAULT_DATA_DIR),
    )
    .option('--verbose', 'print stack traces of unexpected errors (also FRESHET_DEBUG=1)');
}

/** The data directory as an absolute path. */
export function resolveDataDir(options: CommonOptions): string {
  return path.resolve(options.dataDir);
}

/** Parses a non-negative safe integer (`0`, `42`, `1_000` is not accepted). */
export function parseNonNegativeInt(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError('expected a non-negative integer.');
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('number too large.');
  return n;
}

/** Parses an integer >= 1. */
export function parsePositiveInt(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer >= 1.');
  return n;
}

/** Parses a TCP port (0 = any free port). */
export function parsePort(text: string): number {
  const n = parseNonNegativeInt(text);
  if (n > 65_535) throw new InvalidArgumentError('expected a port in [0, 65535].');
  return n;
}

/** Where `tail` starts reading. */
export type StartPosition =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'offset'; readonly offset: number }
  | { readonly kind: 'time'; readonly timestampMs: number };

/**
 * Parses `--from`: `earliest`, `latest`, an offset (`42`), an ISO-8601 time
 * (`2024-05-01T12:00:00Z`, `2024-05-01`), or epoch milliseconds written `@1714564800000` (the `@`
 * tells a time from an offset).
 */
export function parseStartPosition(text: string): StartPosition {
  const t = text.trim();
  if (t === 'earliest' || t === 'beginning') return { kind: 'earliest' };
  if (t === 'latest' || t === 'end') return { kind: 'latest' };
  if (/^\d+$/.test(t)) return { kind: 'offset', offset: parseNonNegativeInt(t) };
  if (/^@\d+$/.test(t)) return { kind: 'time', timestampMs: parseNonNegativeInt(t.slice(1)) };
  const ms = parseIsoTime(t);
  if (ms !== null) return { kind: 'time', timestampMs: ms };
  throw new InvalidArgumentError(
    "expected 'earliest', 'latest', an offset, an ISO-8601 time with a zone (2024-05-01T12:00:00Z) or @<epoch ms>.",
  );
}

/**
 * Epoch ms of an ISO-8601 date (`2024-05-01`, midnight UTC) or date-time with an explicit offset
 * (`2024-05-01T12:00:00Z`, `...+02:00`), else null: the same rule as ingest's event-time fields. A
 * date-time without an offset is refused: it would mean a different instant on every machine.
 */
export function parseIsoTime(text: string): number | null {
  const ms = parseEventTime(text, NaN);
  return Number.isNaN(ms) ? null : ms;
}

export type FsyncPolicy = 'always' | 'interval' | 'never';

export function parseFsync(text: string): FsyncPolicy {
  if (text === 'always' || text === 'interval' || text === 'never') return text;
  throw new InvalidArgumentError("expected 'always', 'interval' or 'never'.");
}
