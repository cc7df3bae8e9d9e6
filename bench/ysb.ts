/**
 * `npm run bench -- ysb [--events N] [--workers N] [--rate N] [--check]`: the Yahoo Streaming Benchmark
 * (filter views, join ad → campaign through a table, 10 s tumbling count per campaign; bench/queries/ysb.ts)
 * over generated ad events, checked against the DuckDB oracle. Same result lines as the nexmark suite,
 * bench name `ysb`.
 */
import { runBenchSuite } from './queries/harness.js';

export async function run(args: Record<string, string | true>): Promise<void> {
  await runBenchSuite('ysb', args);
}
