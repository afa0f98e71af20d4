// @ts-check
/**
 * What every command does before the CLI loads: find this checkout's bundle of the CLI and check
 * that it was built from the sources as they are. Plain JavaScript (its types in JSDoc, checked
 * by tsc like the rest), because Node.js strips a TypeScript file's types with a compiler of its
 * own, a WebAssembly module it loads and instantiates on the first .ts file it meets: 0.1 s of
 * CPU and of wall time on every command on a quiet machine here, more under load
 * (docs/decisions.md). The bundle is built by bundle.ts, which only the command that finds none
 * up to date loads.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { sourceFiles } from '../lib/source-files.js';

const REPO = path.resolve(import.meta.dirname, '../..');
/** The CLI's sources, which a bundle replaces. */
export const CLI_SOURCE = path.join(REPO, 'src/cli/main.ts');
/** Where the bundles are kept: beside the dependencies they are made of. */
export const CLI_CACHE = path.join(REPO, 'node_modules/.cache/foobar');
/** Runs the sources themselves, bundled or not: FOOBAR_CLI_FROM_SOURCE=1. */
export const FROM_SOURCE = 'FOOBAR_CLI_FROM_SOURCE';

/**
 * A file's path, size and time of change.
 * @param {string} file
 * @param {import('node:crypto').Hash} hash
 */
function describeFile(file, hash) {
  const s = statSync(file, { bigint: true });
  hash.update(`${file}\0${String(s.size)}\0${String(s.mtimeNs)}\n`);
}

/**
 * What a bundle of the checkout at `repo` is made of: foobar's and the app's sources (the CLI
 * shares the app's database TLS), the locked dependencies and the bundler's version, by size and
 * time of change rather than content: a stat of each (about 250) costs a few milliseconds,
 * reading them 25. Their paths too: a bundle names its checkout's files (see `cli` in
 * release/build.ts), and two checkouts may share a node_modules.
 * @param {string} [repo]
 * @returns {string}
 */
export function cliKey(repo = REPO) {
  const hash = createHash('sha256');
  for (const dir of ['src', 'app/src']) {
    const root = path.join(repo, dir);
    for (const file of sourceFiles(root)) describeFile(path.join(root, file), hash);
  }
  describeFile(path.join(repo, 'package-lock.json'), hash);
  describeFile(path.join(repo, 'node_modules/esbuild/package.json'), hash);
  return hash.digest('hex').slice(0, 16);
}

/**
 * Each checkout's bundle has one name, so V8's compile cache (which never forgets a file name)
 * keeps one entry for it, however often it is rebuilt; what it was built from is its first line.
 * Two checkouts sharing a node_modules (git worktrees) have a bundle each.
 * @param {string} [repo]
 * @returns {string}
 */
export function cliBundleFile(repo = REPO) {
  const checkout = createHash('sha256').update(repo).digest('hex').slice(0, 8);
  return path.join(CLI_CACHE, `cli-${checkout}.mjs`);
}

/**
 * The bundle's first line: the key of what it was built from.
 * @param {string} key
 * @returns {string}
 */
export function bundleHeader(key) {
  return `// foobar's command line, bundled from sources ${key}\n`;
}

/**
 * Whether `file` is a bundle of the sources `key` names (one read of its first line).
 * @param {string} file
 * @param {string} key
 * @returns {boolean}
 */
export function isBundleOf(file, key) {
  const want = Buffer.from(bundleHeader(key));
  /** @type {number} */
  let fd;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const got = Buffer.alloc(want.length);
    return readSync(fd, got, 0, want.length, 0) === want.length && got.equals(want);
  } finally {
    closeSync(fd);
  }
}

/**
 * The URL of this checkout's bundle when it is up to date and the sources are not asked for;
 * otherwise undefined, and bundle.ts's cliModule decides (and builds).
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {string | undefined}
 */
export function currentBundle(env = process.env) {
  if (env[FROM_SOURCE] === '1') return undefined;
  try {
    const file = cliBundleFile();
    return isBundleOf(file, cliKey()) ? pathToFileURL(file).href : undefined;
  } catch {
    // No checkout files to key (a broken tree): bundle.ts says why under FOOBAR_DEBUG=1.
    return undefined;
  }
}
