/**
 * The command line runs from one bundled file, built on this machine from the checkout's sources
 * and kept under node_modules/.cache/foobar. Loading ~160 TypeScript modules one by one (each
 * resolved, read and stripped of its types) cost a command 0.2–0.3 s of its start here
 * (docs/decisions.md). The bundle's first line names what it was made of, so a changed source is
 * bundled again by the next command (about a second, once), and a checkout that cannot keep one
 * runs from its sources as before.
 *
 * This module is loaded before the CLI, on every command: Node.js's own modules only (and the
 * source listing of lib/fingerprint.ts, which has no others).
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sourceFiles } from '../lib/fingerprint.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
/** The CLI's sources, which a bundle replaces. */
export const CLI_SOURCE = path.join(REPO, 'src/cli/main.ts');
/** Where the bundles are kept: beside the dependencies they are made of. */
export const CLI_CACHE = path.join(REPO, 'node_modules/.cache/foobar');
/** Runs the sources themselves, bundled or not: FOOBAR_CLI_FROM_SOURCE=1. */
const FROM_SOURCE = 'FOOBAR_CLI_FROM_SOURCE';

type Hash = ReturnType<typeof createHash>;

/** A file's path, size and time of change. */
function describeFile(file: string, hash: Hash): void {
  const s = statSync(file, { bigint: true });
  hash.update(`${file}\0${s.size}\0${s.mtimeNs}\n`);
}

/** Each TypeScript source under `dir` but tests. */
function describeTree(dir: string, hash: Hash): void {
  for (const file of sourceFiles(dir)) describeFile(path.join(dir, file), hash);
}

/**
 * What a bundle of the checkout at `repo` is made of: foobar's and the app's sources (the CLI
 * shares the app's database TLS), the locked dependencies and the bundler's version, by size and
 * time of change rather than content: a stat of each (about 250) costs a few milliseconds,
 * reading them 25. Their paths too: a bundle names its checkout's files (see `cli` in
 * release/build.ts), and two checkouts may share a node_modules.
 */
export function cliKey(repo = REPO): string {
  const hash = createHash('sha256');
  describeTree(path.join(repo, 'src'), hash);
  describeTree(path.join(repo, 'app/src'), hash);
  describeFile(path.join(repo, 'package-lock.json'), hash);
  describeFile(path.join(repo, 'node_modules/esbuild/package.json'), hash);
  return hash.digest('hex').slice(0, 16);
}

/**
 * Each checkout's bundle has one name, so V8's compile cache (which never forgets a file name)
 * keeps one entry for it, however often it is rebuilt; what it was built from is its first line.
 * Two checkouts sharing a node_modules (git worktrees) have a bundle each.
 */
export function cliBundleFile(repo = REPO): string {
  const checkout = createHash('sha256').update(repo).digest('hex').slice(0, 8);
  return path.join(CLI_CACHE, `cli-${checkout}.mjs`);
}

/** The bundle's first line: the key of what it was built from. */
function header(key: string): string {
  return `// foobar's command line, bundled from sources ${key}\n`;
}

/** Whether `file` is a bundle of the sources `key` names (one read of its first line). */
export function isBundleOf(file: string, key: string): boolean {
  const want = Buffer.from(header(key));
  let fd: number;
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
      cli: { firstLine: header(key) },
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
