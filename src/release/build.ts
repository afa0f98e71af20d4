/**
 * Builds the app into a release: one bundled server file, the static files, the database
 * migrations and a manifest. The build is deterministic, so the same sources give the same
 * release id.
 */
import type { Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  isBuildId,
  checksumTree,
  MANIFEST_FILE,
  parseManifest,
  releaseId,
  type Manifest,
} from './manifest.ts';

export interface BuiltRelease {
  readonly id: string;
  readonly dir: string;
  readonly manifest: Manifest;
  /** False when a release with the same content was already built. */
  readonly fresh: boolean;
}

const REPO_DIR = path.resolve(import.meta.dirname, '../..');
/**
 * What every bundle takes in besides its sources: the locked dependencies, the bundler, and its
 * options (this file): a foobar that bundles differently builds the same app again.
 */
export const BUNDLER_INPUTS: readonly string[] = [
  path.join(REPO_DIR, 'package-lock.json'),
  path.join(REPO_DIR, 'node_modules', 'esbuild', 'package.json'),
  import.meta.filename,
];
/** The app of this repository: the default source of a release. */
export const DEFAULT_APP_DIR = path.join(REPO_DIR, 'app');

// Dependencies written in CommonJS call require(); an ES module bundle needs one to give them.
const REQUIRE_SHIM =
  "import { createRequire as __foobarCreateRequire } from 'node:module';\nconst require = __foobarCreateRequire(import.meta.url);";

/**
 * Node.js's own modules, imported in our sources, are required (through the shim above) instead.
 * An ES module import of one goes through a facade that reads every export, lazy getters
 * included: `import http from 'node:http'` reads `http.WebSocket` and so loads undici (fetch,
 * WebSocket: 1.9 MB of source and 2 MB of heap), which none of our processes uses: an idle
 * process that imports node:http held 15.4 MB of private memory instead of 9.2, the dashboard
 * 14.0 instead of 10.5 (docs/decisions.md). `require` returns the module without the facade.
 */
const requireBuiltins: Plugin = {
  name: 'require-builtins',
  setup(build) {
    build.onResolve({ filter: /^[a-z0-9_:/]+$/ }, (args) => {
      if (!isBuiltin(args.path)) return undefined;
      // The module below requires the real one, which stays outside the bundle.
      if (args.namespace === 'builtin') return { path: args.path, external: true };
      if (args.kind !== 'import-statement' && args.kind !== 'dynamic-import') return undefined;
      return { path: args.path, namespace: 'builtin' };
    });
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

export interface BundleOptions {
  readonly entry: string;
  readonly outfile: string;
  /** node: an ES module for our Node.js runtime; browser: one script for today's browsers. */
  readonly platform: 'node' | 'browser';
  /**
   * One of foobar's own daemons (src/release/daemons.ts): `FOOBAR_BUNDLED` is true in it, and
   * esbuild, which only `up` calls, stays out.
   */
  readonly daemon?: boolean;
  /**
   * foobar's own command line (src/cli/bundle.ts), its first line `firstLine`: it runs from the
   * checkout, so each module's `import.meta` keeps naming its source file, and esbuild, which
   * only `up` calls, stays out.
   */
  readonly cli?: { readonly firstLine: string };
}

/**
 * Each of our modules that reads `import.meta` (to find a file of the checkout beside it: the
 * app's sources, the visitors' script, the dashboard's) gets its own path there instead of the
 * bundle's, through esbuild's define on that one file: an expression, never text in a string.
 */
const sourcePaths: Plugin = {
  name: 'source-paths',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const source = await fs.readFile(args.path, 'utf8');
      if (!source.includes('import.meta')) return undefined;
      const { transform } = await import('esbuild');
      const { code } = await transform(source, {
        loader: 'ts',
        format: 'esm',
        sourcefile: args.path,
        define: {
          'import.meta.dirname': JSON.stringify(path.dirname(args.path)),
          'import.meta.filename': JSON.stringify(args.path),
          'import.meta.url': JSON.stringify(pathToFileURL(args.path).href),
        },
      });
      return { contents: code, loader: 'js' };
    });
  },
};

/** Bundles an entry point and what it imports into one file, byte for byte the same each time. */
export async function bundle(options: BundleOptions): Promise<void> {
  const node = options.platform === 'node';
  // Loaded on a build only: most commands never bundle anything.
  const { build } = await import('esbuild');
  await build({
    entryPoints: [options.entry],
    outfile: options.outfile,
    bundle: true,
    platform: options.platform,
    format: node ? 'esm' : 'iife',
    target: node ? 'node24' : 'es2022',
    minify: !node,
    legalComments: 'none',
    ...(node
      ? {
          banner: { js: `${options.cli?.firstLine ?? ''}${REQUIRE_SHIM}` },
          plugins: options.cli === undefined ? [requireBuiltins] : [requireBuiltins, sourcePaths],
        }
      : {}),
    ...(options.daemon === true || options.cli !== undefined
      ? {
          ...(options.daemon === true ? { define: { FOOBAR_BUNDLED: 'true' } } : {}),
          // Loaded from node_modules when used: esbuild to build, mysql2 by the command line
          // to run SQL in the lab (platform/lab/sql.ts), not by every command it runs.
          external: options.cli === undefined ? ['esbuild'] : ['esbuild', 'mysql2'],
        }
      : {}),
    // Every Node.js bundle (the app's, our daemons', the command line's) without whitespace and
    // comments: V8 keeps a script's whole source in memory, as two bytes a character once a
    // single comment has one outside ASCII (5.5 MB of the failover manager's 2.7 MB), and
    // compiles all of it at the start. The app's 3.2 MB became 2.2: 4.4 MB less private memory
    // an app, its start 580 → 530 ms of CPU (median of 8). Names stay as written, so stack
    // traces still read.
    ...(node ? { minifyWhitespace: true, minifySyntax: true } : {}),
    logLevel: 'silent',
    // Paths in the bundle's comments are relative to the repository, so a clone elsewhere
    // builds the same bytes; an app from elsewhere (--from) takes its dependencies from ours.
    absWorkingDir: REPO_DIR,
    nodePaths: [path.join(REPO_DIR, 'node_modules')],
  });
}

/**
 * Builds into a staging directory with `fill`, then names the result after the hash of its
 * files (its id) and writes the manifest beside them. A build that exists already is kept.
 */
export async function stageBuild(
  buildsDir: string,
  fill: (staging: string) => Promise<void>,
): Promise<BuiltRelease> {
  await fs.mkdir(buildsDir, { recursive: true });
  const staging = await fs.mkdtemp(path.join(buildsDir, '.staging-'));
  try {
    await fill(staging);
    const files = await checksumTree(staging);
    const manifest: Manifest = { id: releaseId(files), files };
    await fs.writeFile(path.join(staging, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    const dir = path.join(buildsDir, manifest.id);
    try {
      await fs.rename(staging, dir);
      // mkdtemp made it 0700; the hosts' unprivileged daemons must read it.
      await fs.chmod(dir, 0o755);
      return { id: manifest.id, dir, manifest, fresh: true };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      return { id: manifest.id, dir, manifest, fresh: false };
    }
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/**
 * Of a directory's builds (each directory's name and modification time), those to remove: all but
 * the `newest` and those in `keep`. A name that is not a build's id (a staging directory, the
 * dashboard's) is not a build and stays.
 */
export function supersededBuilds(
  builds: readonly { readonly id: string; readonly mtime: number }[],
  keep: ReadonlySet<string>,
  newest: number,
): string[] {
  return builds
    .filter((b) => isBuildId(b.id))
    .sort((a, b) => b.mtime - a.mtime)
    .slice(newest)
    .filter((b) => !keep.has(b.id))
    .map((b) => b.id);
}

/** Removes the builds in `dir`, on this machine, that `supersededBuilds` names; returns their ids. */
export async function pruneBuilds(
  dir: string,
  keep: ReadonlySet<string>,
  newest: number,
): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const builds = await Promise.all(
    entries
      .filter((entry) => entry.isDirectory())
      .map(async (entry) => ({
        id: entry.name,
        mtime: (await fs.stat(path.join(dir, entry.name))).mtimeMs,
      })),
  );
  const superseded = supersededBuilds(builds, keep, newest);
  for (const id of superseded) await fs.rm(path.join(dir, id), { recursive: true, force: true });
  return superseded;
}

/** The manifest of a build in `dir` whose files all match it; undefined if any is missing or changed. */
export async function intactManifest(dir: string): Promise<Manifest | undefined> {
  const text = await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const manifest = parseManifest(text);
  // A build left damaged (a disk full, a hand edit) is built again.
  const files = await checksumTree(dir);
  const intact =
    Object.keys(files).length === Object.keys(manifest.files).length &&
    Object.entries(manifest.files).every(([file, sum]) => files[file] === sum);
  return intact ? manifest : undefined;
}

/** Where a build's id is kept by the key of its inputs (see `rememberedBuild`). */
function inputsFile(buildsDir: string, key: string): string {
  return path.join(buildsDir, '.inputs', key);
}

/**
 * The build made before from inputs of this `key` (a hash of everything it is made of), when it
 * is still there and intact: found without running the bundler. Otherwise undefined, and a
 * damaged one removed.
 */
export async function rememberedBuild(
  buildsDir: string,
  key: string,
): Promise<BuiltRelease | undefined> {
  const id = (await fs.readFile(inputsFile(buildsDir, key), 'utf8').catch(() => '')).trim();
  if (!isBuildId(id)) return undefined;
  const dir = path.join(buildsDir, id);
  const manifest = await intactManifest(dir);
  if (manifest?.id === id) return { id, dir, manifest, fresh: false };
  // Damaged (a disk full, a hand edit): removed, so that the build made next takes its place.
  await fs.rm(dir, { recursive: true, force: true });
  return undefined;
}

/** Records which build inputs of `key` made, for `rememberedBuild`. */
export async function rememberBuild(buildsDir: string, key: string, id: string): Promise<void> {
  const file = inputsFile(buildsDir, key);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const staged = `${file}.${process.pid}.tmp`;
  await fs.writeFile(staged, `${id}\n`);
  await fs.rename(staged, file);
}

/**
 * What a release of the app in `appDir` is made of: every file of it (path and content), the
 * locked dependencies the bundle takes in, and the bundler's version. The app is a few dozen
 * small files: hashing them takes milliseconds, bundling them most of a second of both cores.
 */
async function appKey(appDir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of BUNDLER_INPUTS)
    hash.update(`${path.basename(file)}\0`).update(await fs.readFile(file));
  const entries = await fs.readdir(appDir, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(appDir, path.join(entry.parentPath, entry.name)))
    .sort();
  for (const file of files)
    hash.update(`\0${file}\0`).update(await fs.readFile(path.join(appDir, file)));
  return `app-${hash.digest('hex').slice(0, 16)}`;
}

/**
 * The release of the app in `appDir`: found again when none of its inputs changed (a deploy of
 * a build already made, a rollforward; see `rememberedBuild`), else bundled and remembered.
 */
export async function buildRelease(appDir: string, buildsDir: string): Promise<BuiltRelease> {
  const entry = path.join(appDir, 'src', 'server.ts');
  try {
    await fs.access(entry);
  } catch {
    throw new Error(`${appDir} is not an app: ${entry} is missing`);
  }
  const key = await appKey(appDir);
  const known = await rememberedBuild(buildsDir, key);
  if (known !== undefined) return known;
  const built = await buildFromSources(appDir, entry, buildsDir);
  await rememberBuild(buildsDir, key, built.id);
  return built;
}

function buildFromSources(appDir: string, entry: string, buildsDir: string): Promise<BuiltRelease> {
  return stageBuild(buildsDir, async (staging) => {
    await bundle({ entry, outfile: path.join(staging, 'server.mjs'), platform: 'node' });
    await fs.cp(path.join(appDir, 'static'), path.join(staging, 'static'), { recursive: true });
    // The release carries its schema changes: a deploy applies them on the primary before the switch.
    const migrations = path.join(appDir, 'migrations');
    if (
      await fs.stat(migrations).then(
        (s) => s.isDirectory(),
        () => false,
      )
    ) {
      await fs.cp(migrations, path.join(staging, 'migrations'), { recursive: true });
    }
  });
}
