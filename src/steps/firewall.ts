/** Each host's nftables firewall, rendered from the model's flows and applied in its namespace. */
import { nft, parseCounterPackets } from '../commands/nft.ts';
import { hostPaths } from '../model/layout.ts';
import type { Host } from '../model/model.ts';
import {
  DROP_COUNTERS,
  FIREWALL_TABLE,
  firewallFile,
  renderFirewall,
} from '../render/nftables/index.ts';
import type { Context } from './context.ts';
import { writeFiles } from './daemon.ts';

/** Applies the host's rules when they changed or are not in force (a new namespace). */
export async function ensureFirewall(ctx: Context, host: Host): Promise<string> {
  const file = firewallFile(hostPaths(ctx.model, host.name));
  const changed = await writeFiles(ctx, host.name, [
    { path: file, content: renderFirewall(ctx.model, host) },
  ]);
  const listed = await ctx.driver.exec(
    host.name,
    nft.listTable(FIREWALL_TABLE.family, FIREWALL_TABLE.name),
    { check: false },
  );
  const inForce = listed.exitCode === 0;
  if (!changed && inForce) return 'up to date';
  await ctx.driver.exec(host.name, nft.check(file));
  await ctx.driver.exec(host.name, nft.apply(file));
  return inForce ? 'rules updated' : 'default drop, flows accepted';
}

/** Packets the host's firewall dropped on input since its namespace was created. */
export async function droppedPackets(ctx: Context, host: string): Promise<number | undefined> {
  const result = await ctx.driver.exec(
    host,
    nft.listCounter(FIREWALL_TABLE.family, FIREWALL_TABLE.name, DROP_COUNTERS.input),
    { check: false },
  );
  return result.exitCode === 0 ? parseCounterPackets(result.stdout) : undefined;
}
