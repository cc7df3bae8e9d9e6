/**
 * `npm run bench -- nexmark [--query q5[,q7]] [--events N] [--workers N] [--rate N] [--check]`: the Nexmark
 * queries (bench/queries/nexmark.ts) over generated events (bench/generators/nexmark.ts) in an embedded
 * log, each checked against the DuckDB oracle (bench/oracle/). One JSON line per result:
 * `nexmark.<q>` events_per_s_per_core (with the raw-decode ceiling and ratio), `nexmark.<q>.check`
 * oracle_mismatched_rows, `nexmark.<q>` p99_ms at a fixed rate. See bench/README.md for every option.
 */
import { runBenchSuite } from './queries/harness.js';

export async function run(args: Record<string, string | true>): Promise<void> {
  await runBenchSuite('nexmark', args);
}
