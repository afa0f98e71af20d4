/** Releases on web servers: copy, verify against the manifest, switch the `current` link. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { files } from '../commands/files.ts';
import { hostPaths, labPaths } from '../model/layout.ts';
import { buildRelease, DEFAULT_APP_DIR, type BuiltRelease } from '../release/build.ts';
import { diffManifest, MANIFEST_FILE, parseManifest, type Manifest } from '../release/manifest.ts';
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
  const listed = await ctx.driver.exec(host, files.listFiles(dir));
  const paths = listed.stdout
    .split('\n')
    .filter((line) => line !== '' && path.basename(line) !== MANIFEST_FILE);
  if (paths.length === 0) return {};
  const summed = await ctx.driver.exec(host, files.sha256(paths));
  const result: Record<string, string> = {};
  for (const line of summed.stdout.split('\n')) {
    const match = /^([0-9a-f]{64}) {2}(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined)
      result[path.relative(dir, match[2])] = match[1];
  }
  return result;
}

/** Problems of a host's copy of a build in `dir`: empty when every file matches its manifest. */
export async function verifyTree(ctx: Context, host: string, dir: string): Promise<string[]> {
  const text = await ctx.driver.readFile(host, path.join(dir, MANIFEST_FILE));
  if (text === undefined) return [`${MANIFEST_FILE}: missing`];
  let manifest: Manifest;
  try {
    manifest = parseManifest(text);
  } catch (error) {
    return [`${MANIFEST_FILE}: ${(error as Error).message}`];
  }
  return diffManifest(manifest, await checksumsOnHost(ctx, host, dir));
}

/** Problems of a host's copy of a release: empty when every file matches the manifest. */
export async function verifyRelease(ctx: Context, host: string, id: string): Promise<string[]> {
  return verifyTree(ctx, host, path.join(hostPaths(ctx.model, host).releases, id));
}

/**
 * Copies a build to `dir` on a host unless an intact copy of it is there (its manifest and every
 * file match); throws if the copy is bad.
 */
export async function installTree(
  ctx: Context,
  host: string,
  build: BuiltRelease,
  dir: string,
): Promise<'copied' | 'present'> {
  if ((await verifyTree(ctx, host, dir)).length === 0) {
    // Intact, so its manifest parses: is it this build?
    const present = parseManifest(
      (await ctx.driver.readFile(host, path.join(dir, MANIFEST_FILE))) ?? '',
    );
    if (present.id === build.id) return 'present';
  }
  await ctx.driver.copyDir(host, build.dir, dir);
  const problems = await verifyTree(ctx, host, dir);
  if (problems.length > 0) {
    throw new Error(
      `the copy of ${build.id} in ${dir} on ${host} is damaged: ${problems.slice(0, 5).join('; ')}`,
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
  if (!/^[0-9a-f]{12}$/.test(id))
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
