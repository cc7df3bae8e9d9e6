import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../cli/cli-harness.js';
import { TempDirs } from '../helpers/temp-dir.js';

/**
 * The README's first command, as a newcomer runs it: `npm start` (the built CLI in dist/, made by
 * `npm ci`'s prepare step) starts the demo; within seconds a view has data over HTTP.
 */
describe('npm start (the README’s first command)', () => {
  const dirs = new TempDirs();
  let child: ChildProcess | undefined;
  afterEach(() => {
    // npm runs the demo in a child process: stop the whole process group.
    if (child?.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    dirs.cleanup();
  });

  it('runs the demo and its views fill', async () => {
    expect(fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')).toMatch(/^```sh\nnpm ci && npm start /m);
    expect(fs.existsSync(path.join(REPO_ROOT, 'dist/cli/main.js')), 'dist/ is built by npm ci (prepare)').toBe(true);
    let stdout = '';
    let stderr = '';
    child = spawn('npm', ['start', '--', '--port', '0', '--rate', '500'], {
      cwd: REPO_ROOT,
      env: { ...process.env, FRESHET_DATA_DIR: dirs.make('freshet-npm-start-') },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    let url: string | undefined;
    for (let i = 0; i < 600 && url === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      url = /dashboard at (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout)?.[1];
      if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}\n${stdout}\n${stderr}`);
    }
    expect(url, `${stdout}\n${stderr}`).toBeDefined();
    let size = 0;
    for (let i = 0; i < 300 && size === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const res = await fetch(`${url}/v1/views`);
      const body = (await res.json()) as { views: { name: string; size?: number }[] };
      size = body.views.find((v) => v.name === 'revenue-by-region')?.size ?? 0;
    }
    expect(size).toBeGreaterThan(0);
    expect((await fetch(`${url}/`)).status).toBe(200);
  }, 120_000);
});
