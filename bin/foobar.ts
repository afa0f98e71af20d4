#!/usr/bin/env node
/** The `foobar` executable: runs the CLI and turns errors into a message and an exit code. */
import module from 'node:module';
import { cliModule } from '../src/cli/bundle.ts';
import type * as Cli from '../src/cli/main.ts';

// V8's code cache for every module the CLI loads: a command starts in about 1 s instead of 1.6 s
// on this machine. Node keeps it under the OS's temporary directory and checks each entry
// against its source, so a changed file is compiled again.
module.enableCompileCache();
// The CLI itself, from one bundled file of these sources (src/cli/bundle.ts).
const { main, UsageError, closeConnections } = (await import(await cliModule())) as typeof Cli;

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const err = error as Error;
  process.stderr.write(`foobar: ${err.message}\n`);
  if (process.env.FOOBAR_DEBUG === '1' && err.stack !== undefined)
    process.stderr.write(`${err.stack}\n`);
  process.exitCode = error instanceof UsageError ? 64 : 2;
} finally {
  await closeConnections();
}
