/**
 * `npm run bench -- <suite> [--options]`: runs one benchmark suite (or all with no suite) and prints
 * one JSON line per result. Each suite is `bench/<suite>.ts` exporting `run(args)`.
 */
import { note, parseArgs } from './report.js';

const SUITES = ['log', 'ingest', 'engine', 'aggregators', 'workers', 'nexmark', 'ysb', 'serving', 'recovery'] as const;

const [suiteArg, ...rest] = process.argv.slice(2);
const suites = suiteArg && !suiteArg.startsWith('--') ? [suiteArg] : [...SUITES];
const args = parseArgs(suiteArg?.startsWith('--') ? [suiteArg, ...rest] : rest);

for (const suite of suites) {
  if (!(SUITES as readonly string[]).includes(suite)) {
    note(`unknown bench suite '${suite}'; known: ${SUITES.join(', ')}`);
    process.exit(2);
  }
  const mod = (await import(`./${suite}.js`)) as { run(args: Record<string, string | true>): Promise<void> };
  await mod.run(args);
}
