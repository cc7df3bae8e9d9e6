/**
 * Child process of truncate-crash.test.ts: `node --import tsx test/log/truncate-crash-child.ts <dataDir> <run>`.
 * Opens the embedded log (fsync always) and, one operation at a time, appends batches and truncates the
 * partition to random points (often inside a batch, often across segments), printing a line before and
 * after each operation, until the parent kills it with SIGKILL.
 */
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { mulberry32 } from '../helpers/bytes.js';
import { TRUNC_SEGMENT_BYTES, TRUNC_TOPIC, type TruncLine, truncRecords } from './truncate-crash-records.js';

const [dataDir, runArg] = process.argv.slice(2);
if (!dataDir || runArg === undefined) {
  process.stderr.write('usage: truncate-crash-child.ts <dataDir> <run>\n');
  process.exit(2);
}
const run = Number(runArg);

function emit(line: TruncLine): void {
  // Synchronous pipe write: once it returns the parent gets the whole line, even if we die right after.
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const log = await EmbeddedLog.open({ dataDir, fsync: 'always', retentionCheckIntervalMs: 0, onWarning: (m) => process.stderr.write(`warning: ${m}\n`) });
await log.ensureTopic(TRUNC_TOPIC, { partitions: 1, segmentBytes: TRUNC_SEGMENT_BYTES });
emit({ t: 'ready', run, latest: await log.latestOffset(TRUNC_TOPIC, 0) });
const rnd = mulberry32(run * 7919 + 1);
for (let seq = 0; ; seq++) {
  const latest = await log.latestOffset(TRUNC_TOPIC, 0);
  if (latest > 20 && rnd() < 0.35) {
    const end = Math.max(0, latest - 1 - Math.floor(rnd() * Math.min(latest, 60)));
    emit({ t: 'truncate-start', seq, end });
    await log.truncate(TRUNC_TOPIC, 0, end);
    emit({ t: 'truncate-done', seq });
  } else {
    const count = 1 + Math.floor(rnd() * 8);
    emit({ t: 'append-start', seq, count });
    const ack = await log.append(TRUNC_TOPIC, 0, truncRecords(run, seq, count));
    emit({ t: 'append-done', seq, base: ack.baseOffset });
  }
}
