/**
 * Child process of crash.test.ts: `node --import tsx test/log/crash-child.ts <dataDir> <run>`.
 * Opens the embedded log (fsync always), then appends from several concurrent producers forever,
 * printing one JSON line per acknowledged write (see AckLine), until the parent kills it with SIGKILL.
 * Every record is generated deterministically from its identity (test/helpers/crash-records.ts).
 */
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { mulberry32 } from '../helpers/bytes.js';
import {
  type AckLine,
  CRASH_GROUP,
  CRASH_PARTITIONS,
  CRASH_SEGMENT_BYTES,
  CRASH_TOPIC,
  PRODUCE_PRODUCER,
  crashUnit,
} from '../helpers/crash-records.js';

const [dataDir, runArg] = process.argv.slice(2);
if (!dataDir || runArg === undefined) {
  process.stderr.write('usage: crash-child.ts <dataDir> <run>\n');
  process.exit(2);
}
const run = Number(runArg);

function emit(line: AckLine): void {
  // Writes to a pipe are synchronous on Linux and a short line is written atomically: once this
  // returns, the parent will see the whole line even if we are killed right after.
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const log = await EmbeddedLog.open({
  dataDir,
  fsync: 'always',
  retentionCheckIntervalMs: 0,
  onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
});
await log.ensureTopic(CRASH_TOPIC, { partitions: CRASH_PARTITIONS, segmentBytes: CRASH_SEGMENT_BYTES });
emit({ t: 'ready', run });

async function appendProducer(producer: number): Promise<never> {
  const rnd = mulberry32(run * 1000 + producer);
  for (let seq = 0; ; seq++) {
    const partition = Math.floor(rnd() * CRASH_PARTITIONS);
    const count = 1 + Math.floor(rnd() * 8);
    const ack = await log.append(CRASH_TOPIC, partition, crashUnit(run, producer, seq, partition, count));
    emit({ t: 'append', run, producer, seq, partition, baseOffset: ack.baseOffset, lastOffset: ack.lastOffset, count });
    if (producer === 0) {
      // Commit "consumed up to here" for the partition just written: offsets only grow.
      await log.commitOffsets(CRASH_GROUP, [{ topic: CRASH_TOPIC, partition, offset: ack.lastOffset + 1 }]);
      emit({ t: 'commit', run, partition, offset: ack.lastOffset + 1 });
    }
  }
}

async function produceProducer(): Promise<never> {
  const producer = PRODUCE_PRODUCER;
  const rnd = mulberry32(run * 1000 + producer);
  for (let seq = 0; ; seq++) {
    const units = [];
    for (let partition = 0; partition < CRASH_PARTITIONS; partition++) {
      const count = Math.floor(rnd() * 4);
      if (count > 0) units.push({ partition, records: crashUnit(run, producer, seq, partition, count) });
    }
    if (units.length === 0) continue;
    const records = units.flatMap((u) => u.records);
    const acks = await log.produce(CRASH_TOPIC, records);
    let i = 0;
    for (const u of units) {
      u.records.forEach((_, index) => {
        const ack = acks[i++]!;
        emit({ t: 'produce', run, producer, seq, partition: ack.partition, offset: ack.offset, index, count: u.records.length });
      });
    }
  }
}

await Promise.all([appendProducer(0), appendProducer(1), appendProducer(2), produceProducer()]);
