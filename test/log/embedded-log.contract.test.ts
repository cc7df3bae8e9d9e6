import { afterEach } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { EventLog } from '../../src/log/log.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { describeLogContract } from '../contract/log.case.js';
import { TempDirs } from '../helpers/temp-dir.js';

const dirs = new TempDirs();
const dirOf = new WeakMap<EventLog, string>();
const warnings: string[] = [];

afterEach(() => {
  dirs.cleanup();
  warnings.length = 0;
});

function factory(fsync: 'always' | 'never', clock?: ManualClock) {
  const openAt = async (dataDir: string): Promise<EventLog> => {
    const log = await EmbeddedLog.open({ dataDir, fsync, clock, retentionCheckIntervalMs: 0, onWarning: (m) => warnings.push(m) });
    dirOf.set(log, dataDir);
    return log;
  };
  return {
    open: () => openAt(dirs.make('freshet-contract-')),
    async reopen(log: EventLog): Promise<EventLog> {
      const dataDir = dirOf.get(log);
      if (!dataDir) throw new Error('reopen: not a log this factory opened');
      await log.close();
      return openAt(dataDir);
    },
    clock,
  };
}

const clock = new ManualClock(1_700_000_000_000);
describeLogContract('EmbeddedLog (fsync always, manual clock)', factory('always', clock));
describeLogContract('EmbeddedLog (fsync never, system clock)', factory('never'));
