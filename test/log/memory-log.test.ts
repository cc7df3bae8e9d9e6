import { ManualClock } from '../../src/core/clock.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { describeLogContract } from '../contract/log.case.js';

const clock = new ManualClock(1_700_000_000_000);

describeLogContract('MemoryLog (manual clock)', { open: async () => new MemoryLog(clock), clock });
describeLogContract('MemoryLog (system clock)', { open: async () => new MemoryLog() });
