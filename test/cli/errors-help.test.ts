import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { debugEnabled } from '../../src/cli/output.js';
import { buildProgram } from '../../src/cli/program.js';
import { cliPerTest, REPO_ROOT } from './cli-harness.js';

describe('freshet errors, --help and --version', () => {
  const cliFor = cliPerTest();

  it('reports an unknown topic as FRESHET_UNKNOWN_TOPIC with exit 1', async ({ task }) => {
    const cli = cliFor(task);
    const [tail, produce] = await Promise.all([cli.run(['tail', 'nope']), cli.run(['produce', 'nope'], { input: '{}\n' })]);
    for (const r of [tail, produce]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("FRESHET_UNKNOWN_TOPIC: unknown topic 'nope'\n");
    }
  });

  it('reports bad arguments as usage errors with exit 2', async ({ task }) => {
    const cli = cliFor(task);
    const results = await Promise.all([
      cli.run(['topics', 'create', 'x', '--partitions', 'many']),
      cli.run(['tail', 'orders', '--from', 'yesterday']),
      cli.run(['produce', 'orders', '--bogus']),
      cli.run(['topics', 'create', 'bad/name']),
    ]);
    for (const r of results) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^FRESHET_INVALID_ARGUMENT: /);
    }
    expect(results[0]!.stderr).toContain("option '-p, --partitions <n>' argument 'many' is invalid");
    expect(results[1]!.stderr).toContain("option '--from <position>' argument 'yesterday' is invalid");
    expect(results[2]!.stderr).toContain("unknown option '--bogus'");
    expect(results[3]!.stderr).toContain("invalid topic name 'bad/name'");
  });

  it('prints help and the version', async ({ task }) => {
    const cli = cliFor(task);
    const [root, create, version] = await Promise.all([cli.run(['--help']), cli.run(['topics', 'create', '--help']), cli.run(['--version'])]);
    expect(root).toMatchObject({ code: 0, stderr: '' });
    expect(root.stdout).toMatch(/^Usage: freshet \[options\] \[command\]/);
    for (const command of ['topics', 'produce', 'tail', 'serve', 'run']) expect(root.stdout).toMatch(new RegExp(`\\n  ${command} `));
    expect(create.code).toBe(0);
    expect(create.stdout).toMatch(/^Usage: freshet topics create \[options\] <name>/);
    expect(create.stdout).toContain('--retention-ms <ms>');
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  it('has help for every command, each with --data-dir (checked in-process: spawning each is slow)', () => {
    const program = buildProgram();
    const leaves: Command[] = [];
    const visit = (c: Command): void => {
      if (c.commands.length === 0) leaves.push(c);
      c.commands.forEach(visit);
    };
    visit(program);
    const path = (c: Command): string => (c.parent && c.parent.name() !== 'freshet' ? `${c.parent.name()} ${c.name()}` : c.name());
    expect(leaves.map(path).sort()).toEqual([
      'checkpoints list',
      'demo',
      'dev',
      'dlq list',
      'dlq replay',
      'dlq show',
      'get',
      'produce',
      'query',
      'run',
      'savepoint create',
      'savepoint delete',
      'savepoint list',
      'serve',
      'tail',
      'topics create',
      'topics delete',
      'topics describe',
      'topics list',
    ]);
    // Clients of a running server (query, get) take --url instead of a data directory.
    const clients = new Set(['query', 'get']);
    for (const leaf of leaves) {
      const help = leaf.helpInformation();
      expect(help).toMatch(/^Usage: freshet /);
      expect(help).toContain(clients.has(leaf.name()) ? '--url <url>' : '--data-dir <dir>');
      expect(help).toContain(clients.has(leaf.name()) ? 'FRESHET_URL' : 'FRESHET_DATA_DIR');
      expect(help).toContain('--help');
    }
    const serve = leaves.find((c) => c.name() === 'serve')!.helpInformation();
    for (const option of ['--port <port>', 'FRESHET_PORT', '--host <host>', '--config <file>', '--fsync <policy>', '--auth-token <token>']) expect(serve).toContain(option);
    const produce = leaves.find((c) => c.name() === 'produce')!.helpInformation();
    for (const option of ['--key-field <field>', '--time-field <field>', '--partition <n>', '--dlq [topic]', '--progress']) expect(produce).toContain(option);
    const tail = leaves.find((c) => c.name() === 'tail')!.helpInformation();
    for (const option of ['--from <position>', '--partition <n>', '--follow', '--max <n>', '--value-format <format>']) expect(tail).toContain(option);
  });

  it('reports an unusable data directory with a coded error, and its cause with a stack only with --verbose or FRESHET_DEBUG=1', async ({ task }) => {
    const cli = cliFor(task);
    // A data directory that is a file: the log wraps the filesystem error in a coded one.
    const notADir = path.join(cli.workDir, 'file');
    fs.writeFileSync(notADir, '');
    const [quiet, verbose] = await Promise.all([
      cli.run(['topics', 'create', 'x', '--data-dir', notADir]),
      cli.run(['topics', 'create', 'x', '--data-dir', notADir, '--verbose']),
    ]);
    expect(quiet.code).toBe(1);
    expect(quiet.stderr).toMatch(/^FRESHET_LOG_OPEN_FAILED: cannot open the log in .*ENOTDIR/);
    expect(quiet.stderr).not.toMatch(/\n\s+at /);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/\n\s+at /);
    expect(debugEnabled(false)).toBe(false);
    process.env.FRESHET_DEBUG = '1';
    try {
      expect(debugEnabled(false)).toBe(true);
    } finally {
      delete process.env.FRESHET_DEBUG;
    }
  });
});
