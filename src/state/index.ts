/**
 * State backends, snapshots and the checkpoint store (docs/state.md).
 *
 * @example
 * ```ts
 * import { MemoryStateBackend, CheckpointStore, checkpointDir } from 'freshet';
 * ```
 */
export {
  bytesSerializer,
  msgpackSerializer,
  type BackendSnapshot,
  type DueTimer,
  type MapState,
  type OperatorSnapshot,
  type OperatorState,
  type RestoreOptions,
  type SnapshotOptions,
  type StateBackend,
  type StateDescriptor,
  type StateKey,
  type StateMigrations,
  type StateSerializer,
  type StateTtl,
  type TimerState,
  type ValueState,
  type WindowRef,
  type WindowState,
} from './state-store.js';
export { MemoryStateBackend, type MemoryStateBackendOptions } from './memory/memory-backend.js';
export { LmdbStateBackend, type LmdbStateBackendOptions } from './lmdb/lmdb-backend.js';
export {
  CheckpointStore,
  checkpointDir,
  checkRestoreCompatibility,
  checkpointWriterPid,
  requestSavepoint,
  type CheckpointData,
  type CheckpointInfo,
  type CheckpointStoreOptions,
  type LoadedCheckpoint,
  type LoadedTask,
  type OperatorDescriptor,
  type OperatorStatePart,
  type TaskCheckpoint,
} from './checkpoint-store.js';
export { readSnapshotHeader, type SnapshotHeader } from './snapshot-format.js';
export type { ChainOptions } from './chain.js';
export { StateLimits } from './limits.js';
