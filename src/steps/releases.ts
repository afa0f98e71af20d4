/** What releases each web server holds, which is live where, and pruning the old ones. */
import path from 'node:path';
import { hostPaths } from '../model/layout.ts';
import { supersededBuilds } from '../release/build.ts';
import { hostsWithRole } from '../model/model.ts';
import type { Context } from './context.ts';
import { buildsOn, liveRelease } from './release.ts';

/** Releases kept on each web server besides the live one. */
export const KEEP_RELEASES = 5;

export interface ReleaseInfo {
  readonly id: string;
  /** When it first reached a web server (ISO time). */
  readonly installed: string;
  /** Web servers holding it. */
  readonly on: readonly string[];
  /** Web servers serving it now. */
  readonly liveOn: readonly string[];
}

function releasesOn(ctx: Context, host: string): Promise<{ id: string; mtime: number }[]> {
  return buildsOn(ctx, host, hostPaths(ctx.model, host).releases);
}

/** Every release on any web server, newest first. */
export async function listReleases(ctx: Context): Promise<ReleaseInfo[]> {
  const byId = new Map<string, { mtime: number; on: string[]; liveOn: string[] }>();
  for (const web of hostsWithRole(ctx.model, 'web')) {
    const live = await liveRelease(ctx, web.name);
    for (const { id, mtime } of await releasesOn(ctx, web.name)) {
      const entry = byId.get(id) ?? { mtime, on: [], liveOn: [] };
      entry.mtime = Math.min(entry.mtime, mtime);
      entry.on.push(web.name);
      if (id === live) entry.liveOn.push(web.name);
      byId.set(id, entry);
    }
  }
  return [...byId]
    .sort(([, a], [, b]) => b.mtime - a.mtime)
    .map(([id, e]) => ({
      id,
      installed: new Date(e.mtime * 1000).toISOString(),
      on: e.on,
      liveOn: e.liveOn,
    }));
}

/**
 * App builds this machine keeps besides those of the releases still on a web server: the newest
 * ones, for `rollback ID` to a release no server holds any more. Each is some 2 MB, one per
 * change of the app deployed: without a bound they piled up for good (60 MB at most now).
 */
export const KEEP_BUILDS = 30;

/**
 * Removes all but the newest KEEP_RELEASES releases of a web server, never one in `keep`: the
 * releases removed, and those left.
 */
export async function pruneReleases(
  ctx: Context,
  host: string,
  keep: ReadonlySet<string>,
): Promise<{ removed: string[]; left: string[] }> {
  const all = await releasesOn(ctx, host);
  const removed = supersededBuilds(all, keep, KEEP_RELEASES);
  for (const id of removed) {
    await ctx.driver.remove(host, path.join(hostPaths(ctx.model, host).releases, id));
  }
  return { removed, left: all.map((r) => r.id).filter((id) => !removed.includes(id)) };
}
