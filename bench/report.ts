import os from 'node:os';

/** One benchmark result: the format every suite prints, one JSON line each on stdout. */
export interface BenchResult {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  /** The same work's physical limit, measured in the same run (absent only where none applies). */
  ceiling?: number;
  /** value / ceiling. */
  ratio?: number;
  [extra: string]: unknown;
}

/** Prints one result line; computes `ratio` from `ceiling` and adds `cores`. */
export function report(result: BenchResult): void {
  const line: BenchResult = { ...result, value: round(result.value) };
  if (result.ceiling !== undefined) {
    line.ceiling = round(result.ceiling);
    line.ratio = round(result.value / result.ceiling, 3);
  }
  line.cores ??= os.availableParallelism();
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Diagnostics go to stderr so stdout stays pure JSON lines. */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Parses `--name value` and `--flag` arguments. */
export function parseArgs(argv: readonly string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[a.slice(2)] = next;
      i++;
    } else out[a.slice(2)] = true;
  }
  return out;
}
