/**
 * Builds the `freshet` command line and runs it: parsing (commander), dispatch to one module per
 * command, and the single place where errors become stderr lines and exit codes.
 */
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { checkpointsCommand } from './commands/checkpoints.js';
import { demoCommand } from './commands/demo.js';
import { devCommand } from './commands/dev.js';
import { dlqCommand } from './commands/dlq.js';
import { getCommand } from './commands/get.js';
import { produceCommand } from './commands/produce.js';
import { queryCommand } from './commands/query.js';
import { runCommand } from './commands/run.js';
import { savepointCommand } from './commands/savepoint.js';
import { serveCommand } from './commands/serve.js';
import { tailCommand } from './commands/tail.js';
import { topicsCommand } from './commands/topics.js';
import { CliExit, debugEnabled, ExitCodes, exitCodeFor, flushOutput, formatError, isBrokenPipe, printErr, watchStdout } from './output.js';

/** The version in package.json (two levels up from both src/cli and dist/cli). */
export function packageVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

/** The `freshet` program. Commander's own exits (help, version, usage errors) become CliExit. */
export function buildProgram(): Command {
  const program = new Command('freshet')
    .description('Freshet: real-time analytics pipelines on a durable event log')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError(true)
    .configureOutput({
      // Usage errors in the same `CODE: message` form as every other error.
      outputError: (text, write) => write(`FRESHET_INVALID_ARGUMENT: ${text.replace(/^error: /, '')}`),
    })
    .exitOverride((err: CommanderError) => {
      throw new CliExit(err.exitCode === 0 ? ExitCodes.ok : ExitCodes.usage);
    });
  program.addHelpText(
    'after',
    `
Every command takes --data-dir (env FRESHET_DATA_DIR, default ./.freshet).
Exit codes: 0 ok, 1 runtime error, 2 usage error. Errors print as FRESHET_CODE: message.
See docs/cli.md.`,
  );
  // Subcommands built on their own inherit the program's output and exit settings here.
  for (const command of [topicsCommand(), produceCommand(), tailCommand(), serveCommand(), runCommand(), devCommand(), demoCommand(), dlqCommand(), queryCommand(), getCommand(), checkpointsCommand(), savepointCommand()]) {
    inheritSettings(command, program);
    program.addCommand(command);
  }
  return program;
}

function inheritSettings(command: Command, from: Command): void {
  command.copyInheritedSettings(from);
  for (const sub of command.commands) inheritSettings(sub, from);
}

/** Runs the CLI with `argv` (as process.argv) and returns the exit code. Never throws. */
export async function run(argv: readonly string[]): Promise<number> {
  watchStdout();
  const program = buildProgram();
  let verbose = debugEnabled(false);
  program.hook('preAction', (_root, action) => {
    verbose = debugEnabled(action.opts<{ verbose?: boolean }>().verbose === true);
  });
  let code: number = ExitCodes.ok;
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CliExit) code = error.exitCode;
    else if (isBrokenPipe(error)) code = ExitCodes.ok; // the reader went away (`| head`): not an error
    else {
      printErr(formatError(error, verbose));
      code = exitCodeFor(error);
    }
  }
  await flushOutput();
  return code;
}
