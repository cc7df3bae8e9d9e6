/**
 * A once-a-second progress line on stderr for long-running commands: rewritten in place on a
 * terminal, one line per tick otherwise (when forced with `--progress`).
 */
import { formatBytes, formatCount } from './output.js';

export interface ProgressSnapshot {
  readonly records: number;
  readonly bytes: number;
}

export class ProgressReporter {
  private timer: NodeJS.Timeout | undefined;
  private readonly startedMs = performance.now();
  private printed = false;

  constructor(
    private readonly sample: () => ProgressSnapshot,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly intervalMs = 1000,
  ) {}

  start(): this {
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  /** Stops ticking and clears the in-place line, so the summary starts on a clean line. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.printed && this.stream.isTTY) this.stream.write('\r\x1b[K');
  }

  private tick(): void {
    const { records, bytes } = this.sample();
    const seconds = (performance.now() - this.startedMs) / 1000;
    const line = `${formatCount(records)} records, ${formatBytes(bytes)}, ${formatCount(records / Math.max(seconds, 1e-3))} records/s`;
    this.stream.write(this.stream.isTTY ? `\r\x1b[K${line}` : `${line}\n`);
    this.printed = true;
  }
}

/** Seconds since `startedMs` (a `performance.now()` value), for summaries. */
export function elapsedSeconds(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
