/**
 * `freshet get <view> <key>`: the latest value of a key in a key-value (or time-series) view of a
 * running server (`GET /v1/views/:view/keys/:key`), printed as JSON.
 */
import { Command } from 'commander';
import { writeOut } from '../output.js';
import { callServer, type ServerClientOptions, withServerOptions } from './query.js';

interface GetOptions extends ServerClientOptions {
  valueOnly?: boolean;
}

export function getCommand(): Command {
  return withServerOptions(
    new Command('get')
      .description("print a key's entry in a view of a running server (GET /v1/views/:view/keys/:key)")
      .argument('<view>', 'view name')
      .argument('<key>', 'key')
      .option('--value-only', 'print only the value, not the window and event time'),
  ).action(async (view: string, key: string, options: GetOptions) => {
    const response = await callServer(options, `v1/views/${encodeURIComponent(view)}/keys/${encodeURIComponent(key)}`);
    const entry = (await response.json()) as { value: unknown };
    await writeOut(`${JSON.stringify(options.valueOnly === true ? entry.value : entry)}\n`);
  });
}
