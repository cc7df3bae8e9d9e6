export { LogHost, type LogHostOptions } from './log-host.js';
export { RemoteLog } from './remote-log.js';
export { PackedRecordBatch } from './record-codec.js';
