/**
 * The clients' resolver: each client host's /etc/netns/<namespace>/resolv.conf names the lab's
 * DNS servers, so `ip netns exec` shows it to everything run there in place of this machine's.
 * `foobar down` removes exactly what `up` added, and the directories once empty.
 */
import path from 'node:path';
import { files } from '../../commands/files.ts';
import { NETNS_ETC } from '../../model/lab.ts';
import { hostsWithRole } from '../../model/model.ts';
import { renderResolvConf } from '../../render/dns/index.ts';
import type { Context } from '../../steps/context.ts';
import { writeFiles } from '../../steps/daemon.ts';

export function resolverFiles(ctx: Context): string[] {
  return hostsWithRole(ctx.model, 'client').map((host) => ctx.names.resolvConfOf(host.name));
}

/** Writes every client's resolv.conf; resolves to the paths, and whether any changed. */
export async function ensureResolvers(
  ctx: Context,
): Promise<{ files: string[]; changed: boolean }> {
  const content = renderResolvConf(ctx.model);
  const paths = resolverFiles(ctx);
  const changed = await writeFiles(
    ctx,
    null,
    paths.map((file) => ({ path: file, content })),
  );
  return { files: paths, changed };
}

export async function removeResolvers(ctx: Context, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  for (const file of paths) await ctx.driver.remove(null, file);
  const dirs = [...new Set(paths.map((file) => path.dirname(file)))];
  await ctx.driver.exec(null, files.removeEmptyDirs([...dirs, NETNS_ETC]), { check: false });
}
