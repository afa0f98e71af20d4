/** Which release `foobar rollback` goes back to when no id is given. */
import { isBuildId } from '../release/manifest.ts';
import { readAudit } from './audit.ts';
import type { Context } from './context.ts';
import { listReleases } from './releases.ts';

/**
 * The release that was live before the current one: from the audit log's last successful deploy
 * or rollback, else the newest release on the web servers that is not live.
 */
export async function previousRelease(ctx: Context): Promise<string> {
  const releases = await listReleases(ctx);
  const live = new Set(releases.filter((r) => r.liveOn.length > 0).map((r) => r.id));
  const last = (await readAudit(ctx))
    .filter((e) => e.outcome === 'succeeded' && (e.action === 'deploy' || e.action === 'rollback'))
    .at(-1);
  if (last?.previous !== undefined && isBuildId(last.previous) && !live.has(last.previous)) {
    return last.previous;
  }
  const candidate = releases.find((r) => r.liveOn.length === 0);
  if (candidate === undefined)
    throw new Error('there is no earlier release to roll back to (see foobar releases)');
  return candidate.id;
}
