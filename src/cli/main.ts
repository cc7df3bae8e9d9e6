#!/usr/bin/env node
/**
 * Entry point of the `freshet` command (bin/freshet.js imports the compiled twin of this file).
 * Exits explicitly so a stray timer or handle can never keep a finished command alive.
 */
import { run } from './program.js';

process.exit(await run(process.argv));
