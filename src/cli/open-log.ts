/**
 * The one place the CLI opens a log. Commands receive an `EventLog` and never know which
 * implementation is behind it.
 */
import type { EventLog } from '../log/log.js';
import type { FsyncPolicy } from './options.js';

export interface OpenLogOptions {
  readonly dataDir: string;
  readonly fsync?: FsyncPolicy;
  readonly fsyncIntervalMs?: number;
}

interface EmbeddedLogModule {
  EmbeddedLog: { open(options: OpenLogOptions): Promise<EventLog> };
}

/** Opens the embedded log under `dataDir`. */
export async function openLog(options: OpenLogOptions): Promise<EventLog> {
  const specifier = '../log/embedded/embedded-log.js';
  let mod: EmbeddedLogModule | undefined;
  try {
    mod = (await import(specifier)) as EmbeddedLogModule;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
  }
  if (mod) return mod.EmbeddedLog.open(options);
  // Until the embedded log lands: a file-backed development stand-in.
  const { DevFileLog } = await import('./dev-file-log.js');
  return DevFileLog.open(options);
}
