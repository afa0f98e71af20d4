/** Each host's nftables firewall, rendered from the model's flows and applied in its namespace. */
import {
  nft,
  parseCounterPackets,
  parseCountersPackets,
  parseCountsFile,
} from '../commands/nft.ts';
import { firewallCountsIntervalSeconds } from '../model/monitoring.ts';
import { CommandFailedError } from '../drivers/driver.ts';
import { hostPaths } from '../model/layout.ts';
import { findHost, type Host } from '../model/model.ts';
import { readDbState, type DbState } from './db/state.ts';
import {
  DROP_COUNTERS,
  FIREWALL_TABLE,
  firewallFile,
  fencesPrimaries,
  renderFirewall,
} from '../render/nftables/index.ts';
import type { Context } from './context.ts';
import { writeFiles } from './daemon.ts';
import { applyGuarded, reachesOverNetwork } from './firewall-guard.ts';

/** The core addresses of the fenced former primaries in `state`. */
export function fencedAddresses(ctx: Context, state: DbState): string[] {
  return state.fenced.flatMap((name) => {
    const address = findHost(ctx.model, name)?.addresses.core;
    return address === undefined ? [] : [address];
  });
}

/**
 * Applies the host's rules when they changed or are not in force (a new namespace). `state`: the
 * database state whose fenced servers web and database servers refuse (default: the lab's
 * current one).
 */
export async function ensureFirewall(
  ctx: Context,
  host: Host,
  state?: DbState,
  options: { readonly fast?: boolean } = {},
): Promise<string> {
  const file = firewallFile(hostPaths(ctx.model, host.name));
  const fenced = fencesPrimaries(host)
    ? fencedAddresses(ctx, state ?? (await readDbState(ctx)))
    : [];
  const changed = await writeFiles(ctx, host.name, [
    { path: file, content: renderFirewall(ctx.model, host, fenced) },
  ]);
  // On the failover path every process counts: one `nft -f`, without asking first. The rules
  // of every variant are checked by the renderer's tests (nft -c), and by `up`.
  if (options.fast === true) {
    if (changed) await applyFast(ctx, host.name, file);
    return changed ? 'rules updated' : 'up to date';
  }
  const listed = await ctx.driver.exec(
    host.name,
    nft.listTable(FIREWALL_TABLE.family, FIREWALL_TABLE.name),
    { check: false },
  );
  const inForce = listed.exitCode === 0;
  if (!changed && inForce) return 'up to date';
  if (ctx.planning !== undefined) {
    ctx.planning.action(host.name, `firewall: ${inForce ? 'apply the new rules' : 'apply'}`);
    return inForce ? 'rules updated' : 'default drop, flows accepted';
  }
  await ctx.driver.exec(host.name, nft.check(file));
  // A host reached over the network gets the change on probation; the lab's cannot be cut off.
  if (reachesOverNetwork(ctx.driver)) await applyGuarded(ctx.driver, host.name, file);
  else await ctx.driver.exec(host.name, nft.apply(file));
  return inForce ? 'rules updated' : 'default drop, flows accepted';
}

/** What ssh exits with when the connection itself ended (a refused connect throws before). */
const CONNECTION_LOST = 255;

/**
 * `nft -f file` once more over a new connection when the one it ran over ended under it (it is the
 * same transaction twice: nothing changes the second time). A connection that conntrack never saw,
 * opened while the host had no firewall (a machine rebooted by an older foobar, which did not load
 * the rules at boot), is reset by the rules once they are in (an unknown connection's segment); on
 * the failover path that failed a promotion.
 */
async function applyFast(ctx: Context, host: string, file: string): Promise<void> {
  const apply = nft.apply(file);
  const first = await ctx.driver.exec(host, apply, { check: false });
  if (first.exitCode === CONNECTION_LOST) await ctx.driver.exec(host, apply);
  else if (first.exitCode !== 0)
    throw new CommandFailedError(host, apply.argv, first, apply.argv.join(' '));
}

/**
 * Packets the host's firewall dropped on input (`input`), or refused on output (`output`: what
 * the host itself tried to open and no flow allows), since its namespace was created.
 */
export async function droppedPackets(
  ctx: Context,
  host: string,
  chain: 'input' | 'output' = 'input',
): Promise<number | undefined> {
  const result = await ctx.driver.exec(
    host,
    nft.listCounter(FIREWALL_TABLE.family, FIREWALL_TABLE.name, DROP_COUNTERS[chain]),
    { check: false },
  );
  return result.exitCode === 0 ? parseCounterPackets(result.stdout) : undefined;
}

/**
 * Both counts of a host's firewall (input dropped, output refused). `countsFile`: where the host's
 * counting loop writes them (firewallCountsDaemon): read when it wrote them within two of its
 * intervals (no process spawned: status asks every host at once); else (no loop on the host, or
 * a stale file) from one `nft` process.
 */
export async function firewallCounts(
  ctx: Context,
  host: string,
  countsFile?: string,
): Promise<{ dropped?: number; refused?: number }> {
  let packets: Map<string, number> | undefined;
  if (countsFile !== undefined) {
    const text = await ctx.driver.readFile(host, countsFile);
    const read = text === undefined ? undefined : parseCountsFile(text);
    const age = read?.at === undefined ? Infinity : Date.now() / 1000 - read.at;
    if (
      read !== undefined &&
      read.packets.size > 0 &&
      age <= 2 * firewallCountsIntervalSeconds(ctx.model)
    )
      packets = read.packets;
  }
  if (packets === undefined) {
    const result = await ctx.driver.exec(
      host,
      nft.listCounters(FIREWALL_TABLE.family, FIREWALL_TABLE.name),
      { check: false },
    );
    if (result.exitCode !== 0) return {};
    packets = parseCountersPackets(result.stdout);
  }
  const dropped = packets.get(DROP_COUNTERS.input);
  const refused = packets.get(DROP_COUNTERS.output);
  return {
    ...(dropped === undefined ? {} : { dropped }),
    ...(refused === undefined ? {} : { refused }),
  };
}
