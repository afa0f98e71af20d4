#!/usr/bin/env node
// @ts-check
/**
 * The `foobar` executable: runs the CLI and turns errors into a message and an exit code.
 * JavaScript, not TypeScript: a .ts entry would make Node.js load its type stripper on every
 * command (src/cli/bundle-key.js says what that costs). The CLI it runs is the bundle of the
 * TypeScript sources.
 */
import module from 'node:module';
import process from 'node:process';
import { currentBundle } from '../src/cli/bundle-key.js';

// The Node.js of node_modules/.bin (the `node` package, 24) runs it through npm and npx; another
// on the PATH (Debian 12's is 20) would fail later, on an API it lacks, saying nothing useful.
if (Number(process.versions.node.split('.')[0]) < 24) {
  process.stderr.write(
    `foobar: needs Node.js 24 or later, and ${process.execPath} is ${process.version}: ` +
      'run it as npx foobar (npm installs Node.js 24 in node_modules/.bin; npm start, npm test)\n',
  );
  process.exit(2);
}
// V8's code cache for every module the CLI loads: a command starts in about 1 s instead of 1.6 s
// on this machine. Node keeps it under the OS's temporary directory and checks each entry
// against its source, so a changed file is compiled again.
module.enableCompileCache();
// The CLI itself, from one bundled file of these sources, built first when they changed.
const url =
  currentBundle() ?? (await (await import('../src/cli/bundle.ts')).cliModule(process.env));
// A dynamic import has no type of its own: the CLI module's is given to it here.
/** @typedef {typeof import('../src/cli/main.ts')} Cli */
const { main, UsageError, closeConnections } = await import(url).then(
  /** @param {Cli} cli */ (cli) => cli,
);

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const err = /** @type {Error} */ (error);
  process.stderr.write(`foobar: ${err.message}\n`);
  if (process.env.FOOBAR_DEBUG === '1' && err.stack !== undefined)
    process.stderr.write(`${err.stack}\n`);
  process.exitCode = error instanceof UsageError ? 64 : 2;
} finally {
  await closeConnections();
}
