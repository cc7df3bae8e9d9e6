import { MessageChannel } from 'node:worker_threads';
import { afterEach } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { EmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import type { EventLog } from '../../../src/log/log.js';
import { MemoryLog } from '../../../src/log/memory/memory-log.js';
import { LogHost } from '../../../src/log/remote/log-host.js';
import { RemoteLog } from '../../../src/log/remote/remote-log.js';
import { describeLogContract } from '../../contract/log.case.js';
import { TempDirs } from '../../helpers/temp-dir.js';

/**
 * The EventLog contract through the message-port proxy: a RemoteLog talking to a LogHost over a
 * MessageChannel (both ends in this thread, so the suite stays fast; the worker-thread path is what
 * test/runtime/workers.test.ts runs). The host owns the log, so closing the client closes it.
 */
function remote(log: EventLog): RemoteLog {
  const { port1, port2 } = new MessageChannel();
  LogHost.serve(log, port1, { ownsLog: true });
  return new RemoteLog(port2);
}

const memoryClock = new ManualClock(1_700_000_000_000);
describeLogContract('RemoteLog over MemoryLog (manual clock)', { open: async () => remote(new MemoryLog(memoryClock)), clock: memoryClock });

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());
const dirOf = new WeakMap<EventLog, string>();
const embeddedClock = new ManualClock(1_700_000_000_000);

async function openEmbedded(dataDir: string): Promise<EventLog> {
  const log = remote(await EmbeddedLog.open({ dataDir, fsync: 'never', clock: embeddedClock, retentionCheckIntervalMs: 0, onWarning: () => undefined }));
  dirOf.set(log, dataDir);
  return log;
}

describeLogContract('RemoteLog over EmbeddedLog (manual clock)', {
  open: () => openEmbedded(dirs.make('freshet-remote-')),
  async reopen(log) {
    const dataDir = dirOf.get(log);
    if (!dataDir) throw new Error('reopen: not a log this factory opened');
    await log.close();
    return openEmbedded(dataDir);
  },
  clock: embeddedClock,
});
