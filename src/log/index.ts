export * from './log.js';
export { partitionForKey, murmur2 } from './partitioner.js';
export { ArrayRecordBatch, recordsOf } from './record-batch.js';
export { MemoryLog } from './memory/memory-log.js';
export { validateTopicName, validateTopicConfig } from './topic-config.js';
export { EmbeddedLog, type EmbeddedLogOptions, type FsyncPolicy } from './embedded/embedded-log.js';
export { LogHost, RemoteLog, PackedRecordBatch, type LogHostOptions } from './remote/index.js';
