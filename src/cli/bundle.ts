/**
 * The command line runs from one bundled file, built on this machine from the checkout's sources
 * and kept under node_modules/.cache/foobar. Loading ~160 TypeScript modules one by one (each
 * resolved, read and stripped of its types) cost a command 0.2–0.3 s of its start here
 * (docs/decisions.md). The bundle's first line names what it was made of, so a changed source is
 * bundled again by the next command (about a second, once), and a checkout that cannot keep one
 * runs from its sources as before.
 *
 * bin/foobar.js checks the bundle with bundle-key.js (JavaScript: no type stripping on a
 * command's way in); this module is loaded only when the bundle must be built, or the sources are
 * asked for.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  bundleHeader,
  CLI_SOURCE,
  cliBundleFile,
  cliKey,
  FROM_SOURCE,
  isBundleOf,
} from './bundle-key.js';

export { CLI_CACHE, CLI_SOURCE, cliBundleFile, cliKey, isBundleOf } from './bundle-key.js';

/** Bundles of other checkouts (2.5 MB each) unchanged for a week are removed. */
const KEPT_MS = 7 * 24 * 3600 * 1000;

/**
 * Bundles the CLI of the sources `key` names into `file`: written beside it, then renamed over
 * it (another command may be reading the old one).
 */
export async function buildCli(file: string, key: string): Promise<void> {
  const { bundle } = await import('../release/build.ts');
  mkdirSync(path.dirname(file), { recursive: true });
  const staged = `${file}.${process.pid}.tmp`;
  try {
    await bundle({
      entry: CLI_SOURCE,
      outfile: staged,
      platform: 'node',
      cli: { firstLine: bundleHeader(key) },
    });
    renameSync(staged, file);
  } finally {
    rmSync(staged, { force: true });
  }
  for (const old of readdirSync(path.dirname(file))) {
    const other = path.join(path.dirname(file), old);
    if (!/^cli-[0-9a-f]+\.mjs$/.test(old) || other === file) continue;
    if (Date.now() - statSync(other).mtimeMs > KEPT_MS) rmSync(other, { force: true });
  }
}

/**
 * The module the CLI runs from: the bundle of these sources (built now if there is none yet), or
 * the sources themselves when FOOBAR_CLI_FROM_SOURCE=1 or the bundle cannot be built or kept
 * (FOOBAR_DEBUG=1 says why).
 */
export async function cliModule(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env[FROM_SOURCE] === '1') return pathToFileURL(CLI_SOURCE).href;
  try {
    const file = cliBundleFile();
    const key = cliKey();
    if (!isBundleOf(file, key)) await buildCli(file, key);
    return pathToFileURL(file).href;
  } catch (error) {
    if (env.FOOBAR_DEBUG === '1')
      process.stderr.write(
        `foobar: running from source (no bundle: ${(error as Error).message})\n`,
      );
    return pathToFileURL(CLI_SOURCE).href;
  }
}
