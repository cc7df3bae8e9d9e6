/**
 * The one place the CLI opens a log. Commands receive an `EventLog` and never know which
 * implementation is behind it.
 *
 * Writers (`produce`, `topics create/delete`, `serve`) take the data directory's lock: one writing
 * process per directory. Readers (`tail`, `topics list/describe`) open read-only, so they work while a
 * server or a producer is running, and see what it appends.
 */
import { ErrorCodes, isFreshetError } from '../core/errors.js';
import { EmbeddedLog } from '../log/embedded/embedded-log.js';
import type { EventLog } from '../log/log.js';
import { MemoryLog } from '../log/memory/memory-log.js';
import type { FsyncPolicy } from './options.js';

export interface OpenLogOptions {
  readonly dataDir: string;
  /** Open without the lock, for reading a log another process may be writing. */
  readonly readOnly?: boolean;
  readonly fsync?: FsyncPolicy;
  readonly fsyncIntervalMs?: number;
}

/** Opens the embedded log under `dataDir`. */
export async function openLog(options: OpenLogOptions): Promise<EventLog> {
  try {
    return await EmbeddedLog.open({
      dataDir: options.dataDir,
      ...(options.readOnly !== undefined && { readOnly: options.readOnly }),
      ...(options.fsync !== undefined && { fsync: options.fsync }),
      ...(options.fsyncIntervalMs !== undefined && { fsyncIntervalMs: options.fsyncIntervalMs }),
    });
  } catch (error) {
    // Nothing was ever written here: read as an empty log (no topics) rather than failing, so
    // `topics list` says "no topics" and `tail x` says FRESHET_UNKNOWN_TOPIC.
    if (options.readOnly && isFreshetError(error, ErrorCodes.LOG_NOT_FOUND)) return new MemoryLog();
    throw error;
  }
}
