/**
 * A fresh process restoring the recovery bench's pipeline from its newest checkpoint: prints, as JSON, the
 * ms from this process's start (performance.timeOrigin) until it has processed a record again.
 */
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { FileCheckpointStorage } from '../../src/runtime/checkpoint-files.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import definition from './pipeline.js';

const dataDir = process.argv[2]!;
const log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
const plan = definition.plan();
const storage = await FileCheckpointStorage.open(plan, { dataDir });
const restoreStart = performance.now();
const runner = await PipelineRunner.start(plan, { log, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } });
const restoredMs = performance.now();
let read = 0;
while (read === 0) read = await runner.step();
const processingMs = performance.now();
const window = runner.stats.operators.get('per-key');
process.stdout.write(`${JSON.stringify({ processingMs, restoreMs: restoredMs - restoreStart, read, windowRecordsIn: window?.recordsIn ?? 0 })}\n`);
await storage.close();
await log.close();
