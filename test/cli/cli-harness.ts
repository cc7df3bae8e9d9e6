/**
 * Runs the real `freshet` CLI from sources (`node --import tsx src/cli/main.ts`) in a temp data
 * directory. Every process started here is tracked and killed by `killAll()` (call it in afterEach).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';
import { TempDirs } from '../helpers/temp-dir.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(REPO_ROOT, 'src/cli/main.ts');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to stdin, which is then closed. Without it stdin is closed at once. */
  readonly input?: string | Buffer;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** A started CLI process with its output so far. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr }));
    });
  }

  /** Resolves once stdout matches, rejects on exit or timeout (with the output, for the failure message). */
  async waitForStdout(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const m = this.stdout.match(pattern);
      if (m) return m;
      if (exited || Date.now() > deadline) {
        throw new Error(`stdout never matched ${pattern} (${exited ? 'process exited' : 'timeout'})\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** One test's CLI runner: a fresh data directory, and every process it starts. */
export class Cli {
  private readonly dirs = new TempDirs();
  private readonly processes: CliProcess[] = [];
  readonly dataDir: string;
  readonly workDir: string;

  constructor() {
    this.dataDir = this.dirs.make('freshet-cli-data-');
    this.workDir = this.dirs.make('freshet-cli-work-');
  }

  /** Starts `freshet <args>` with FRESHET_DATA_DIR set to this runner's data directory. */
  start(args: readonly string[], options: RunOptions = {}): CliProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, FRESHET_DATA_DIR: this.dataDir, FRESHET_DEBUG: '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const p = new CliProcess(child);
    this.processes.push(p);
    child.stdin!.on('error', () => {}); // the CLI may exit before reading all of it
    if (options.input !== undefined) child.stdin!.end(options.input);
    else child.stdin!.end();
    return p;
  }

  /** Runs `freshet <args>` to completion. */
  async run(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
    const p = this.start(args, options);
    const timeoutMs = options.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        p.child.kill('SIGKILL');
        reject(new Error(`freshet ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${p.stdout}\nstderr: ${p.stderr}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([p.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills every process still running and removes the temp directories. */
  async cleanup(): Promise<void> {
    for (const p of this.processes.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    this.dirs.cleanup();
  }
}

/** Parses NDJSON output into objects. */
export function ndjson(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * One `Cli` per test, also when the tests of a file run concurrently: created in beforeEach, and its
 * processes killed and directories removed in afterEach. Use as
 * `const cliFor = cliPerTest(); it('...', async ({ task }) => { const cli = cliFor(task); ... })`.
 */
export function cliPerTest(): (task: { readonly id: string }) => Cli {
  const clis = new Map<string, Cli>();
  beforeEach(({ task }) => {
    clis.set(task.id, new Cli());
  });
  afterEach(async ({ task }) => {
    const cli = clis.get(task.id);
    clis.delete(task.id);
    await cli?.cleanup();
  });
  return (task) => {
    const cli = clis.get(task.id);
    if (!cli) throw new Error('cliPerTest(): no Cli for this test (call it inside a test)');
    return cli;
  };
}
