import { MemoryStateBackend } from '../../src/state/memory/memory-backend.js';
import { describeStateBackendContract } from './state-store.case.js';

describeStateBackendContract('MemoryStateBackend', { open: () => new MemoryStateBackend() });
