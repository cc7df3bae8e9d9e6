import { afterAll } from 'vitest';
import { LmdbStateBackend } from '../../src/state/lmdb/lmdb-backend.js';
import { TempDirs } from '../helpers/temp-dir.js';
import { describeStateBackendContract } from './state-store.case.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

describeStateBackendContract('LmdbStateBackend (default cache)', { open: () => LmdbStateBackend.open({ path: dirs.make('freshet-lmdb-') }), modelRuns: 40 });
// A cache of ~a dozen entries: every operation goes through eviction and the database.
describeStateBackendContract('LmdbStateBackend (2 KiB cache)', { open: () => LmdbStateBackend.open({ path: dirs.make('freshet-lmdb-'), cacheBytes: 2048 }), modelRuns: 40 });
