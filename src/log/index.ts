export * from './log.js';
export { partitionForKey, murmur2 } from './partitioner.js';
export { ArrayRecordBatch, recordsOf } from './record-batch.js';
