/** Releases on web servers: copy, verify against the manifest, switch the `current` link. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { files } from '../commands/files.ts';
import { hostPaths, labPaths } from '../model/layout.ts';
import {
  buildRelease,
  DEFAULT_APP_DIR,
  supersededBuilds,
  type BuiltRelease,
} from '../release/build.ts';
import { buildDaemons, daemonsDir, KEEP_DAEMON_BUILDS } from '../release/daemons.ts';
import {
  diffManifest,
  isBuildId,
  MANIFEST_FILE,
  parseManifest,
  type Manifest,
} from '../release/manifest.ts';
import type { Context } from './context.ts';

/** The release id a web server serves now, from its `current` link. */
export async function liveRelease(ctx: Context, host: string): Promise<string | undefined> {
  const target = await ctx.driver.readlink(host, hostPaths(ctx.model, host).current);
  return target === undefined ? undefined : path.basename(target);
}

export async function buildApp(
  ctx: Context,
  appDir = DEFAULT_APP_DIR,
  buildsDir = labPaths(ctx.model).builds,
): Promise<BuiltRelease> {
  return buildRelease(appDir, buildsDir);
}

/** Checksums of the files of a release directory on a host, by path relative to it. */
async function checksumsOnHost(
  ctx: Context,
  host: string,
  dir: string,
): Promise<Record<string, string>> {
  if (ctx.direct !== undefined) return ctx.direct.checksumTree(dir);
  const summed = await ctx.driver.exec(host, files.sha256Tree(dir, MANIFEST_FILE));
  const result: Record<string, string> = {};
  for (const line of summed.stdout.split('\n')) {
    const match = /^([0-9a-f]{64}) {2}(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined)
      result[path.relative(dir, match[2])] = match[1];
  }
  return result;
}

/**
 * Problems of a host's copy of a build in `dir`, its files checksummed on the host: empty when
 * every file matches the manifest. `expected` is the build's manifest on this machine: a copy is
 * checked against what was sent, not against a manifest that came with it.
 */
export async function verifyTree(
  ctx: Context,
  host: string,
  dir: string,
  expected?: Manifest,
): Promise<string[]> {
  const text = await ctx.driver.readFile(host, path.join(dir, MANIFEST_FILE));
  if (text === undefined) return [`${MANIFEST_FILE}: missing`];
  let manifest: Manifest;
  try {
    manifest = parseManifest(text);
  } catch (error) {
    return [`${MANIFEST_FILE}: ${(error as Error).message}`];
  }
  const problems =
    expected === undefined || manifest.id === expected.id
      ? []
      : [`${MANIFEST_FILE}: release ${manifest.id}, not ${expected.id}`];
  return [
    ...problems,
    ...diffManifest(expected ?? manifest, await checksumsOnHost(ctx, host, dir)),
  ];
}

/** Problems of a host's copy of a release: empty when every file matches the manifest. */
export async function verifyRelease(ctx: Context, host: string, id: string): Promise<string[]> {
  return verifyTree(ctx, host, path.join(hostPaths(ctx.model, host).releases, id));
}

/** Problems listed in an error, at most. */
const PROBLEMS_SHOWN = 5;

/**
 * Copies a build to `dir` on a host (a stream: driver.copyDir) unless an intact copy of it is
 * there; then checks every file on the host against the build's manifest, and refuses a copy
 * that differs: nothing is switched to it.
 */
export async function installTree(
  ctx: Context,
  host: string,
  build: BuiltRelease,
  dir: string,
): Promise<'copied' | 'present'> {
  if ((await verifyTree(ctx, host, dir, build.manifest)).length === 0) return 'present';
  await ctx.driver.copyDir(host, build.dir, dir);
  const problems = await verifyTree(ctx, host, dir, build.manifest);
  if (problems.length > 0) {
    const more = problems.length - PROBLEMS_SHOWN;
    throw new Error(
      `the copy of ${build.id} in ${dir} on ${host} is damaged (its files differ from the build's ` +
        `manifest, checked on ${host}): ${problems.slice(0, PROBLEMS_SHOWN).join('; ')}` +
        `${more > 0 ? `; and ${more} more` : ''}. Nothing was switched to it; run the command again ` +
        `to copy it anew, and if it fails again, check ${host}'s disk.`,
    );
  }
  return 'copied';
}

/** Copies a built release to a host unless an intact copy is there; throws if the copy is bad. */
export async function installRelease(
  ctx: Context,
  host: string,
  release: BuiltRelease,
): Promise<'copied' | 'present'> {
  return installTree(
    ctx,
    host,
    release,
    path.join(hostPaths(ctx.model, host).releases, release.id),
  );
}

export async function switchCurrent(ctx: Context, host: string, id: string): Promise<void> {
  const paths = hostPaths(ctx.model, host);
  await ctx.driver.symlink(host, path.join(paths.releases, id), paths.current);
}

/** A release built earlier on this machine (for rollbacks), checked against its manifest. */
export async function earlierBuild(
  ctx: Context,
  id: string,
  buildsDir = labPaths(ctx.model).builds,
): Promise<BuiltRelease> {
  if (!isBuildId(id))
    throw new Error(`"${id}" is not a release id (12 hex digits; see foobar releases)`);
  const dir = path.join(buildsDir, id);
  // Builds live on this machine, whatever drives the hosts: read them directly, like buildRelease.
  const text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) {
    throw new Error(
      `release ${id} is not among this machine's builds (${buildsDir}): deploy its sources with foobar deploy --from DIR`,
    );
  }
  return { id, dir, manifest: parseManifest(text), fresh: false };
}

/**
 * The builds in a directory of a host (releases, daemon bundles): each directory named like a
 * build's key, with its modification time in seconds.
 */
export async function buildsOn(
  ctx: Context,
  host: string,
  dir: string,
): Promise<{ id: string; mtime: number }[]> {
  const result = await ctx.driver.exec(host, files.listDirs(dir), { check: false });
  return result.stdout
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([id]) => id !== undefined && isBuildId(id))
    .map(([id, mtime]) => ({ id: id ?? '', mtime: Number(mtime) }));
}

/**
 * foobar's daemon bundles where `host` runs them: built on this machine (once per key), and on
 * machines copied to the host and checked there against their manifest (the lab's hosts run the
 * build itself).
 */
export async function installDaemons(ctx: Context, host: string): Promise<'copied' | 'present'> {
  const built = await buildDaemons(ctx.model, ctx.scratchBuilds);
  if (ctx.platform.kind !== 'machines') return 'present';
  const dir = daemonsDir(ctx.model);
  const installed = await installTree(ctx, host, built, dir);
  if (installed === 'copied') {
    // The host's copies of superseded builds, as on this machine (KEEP_DAEMON_BUILDS).
    const root = path.dirname(dir);
    const builds = await buildsOn(ctx, host, root);
    for (const id of supersededBuilds(builds, new Set([built.id]), KEEP_DAEMON_BUILDS))
      await ctx.driver.remove(host, path.join(root, id));
  }
  return installed;
}
