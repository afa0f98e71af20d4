#!/usr/bin/env node
/** The `foobar` executable: runs the CLI and turns errors into a message and an exit code. */
import { main, UsageError } from '../src/cli/main.ts';

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const err = error as Error;
  process.stderr.write(`foobar: ${err.message}\n`);
  if (process.env.FOOBAR_DEBUG === '1' && err.stack !== undefined)
    process.stderr.write(`${err.stack}\n`);
  process.exitCode = error instanceof UsageError ? 64 : 2;
}
