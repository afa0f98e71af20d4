/**
 * Faults injected on purpose, as they happen to real servers: a process killed, a host gone silent
 * (its links down: packets go unanswered, nothing is refused), two groups of hosts partitioned
 * (packets between them dropped). Tests and `foobar drill` inject through these, through the
 * driver, and heal with the matching function; every heal is safe to call twice.
 */
import { ip } from '../commands/ip.ts';
import { nft } from '../commands/nft.ts';
import { NETWORKS } from '../model/schema.ts';
import type { Host } from '../model/model.ts';
import type { Context } from '../steps/context.ts';
import { killDaemon } from '../steps/daemon.ts';
import { daemonsOf } from '../steps/services.ts';

/** The table a partition adds on a host; foobar's own firewall table is never touched. */
export const FAULT_TABLE = { family: 'inet', name: 'foobar_fault' } as const;

/** SIGKILL of one service on a host (master and workers): a crash. Resolves to its pid. */
export async function killService(ctx: Context, host: Host, service: string): Promise<number> {
  const daemon = (await daemonsOf(ctx, host)).find((d) => d.service === service);
  if (daemon === undefined) throw new Error(`${host.name} runs no ${service}`);
  const pid = await killDaemon(ctx, daemon);
  if (pid === undefined) throw new Error(`${host.name}: ${service} was not running`);
  return pid;
}

/** The switch's ends of the host's links: unplugging them silences the host for everyone. */
function switchPorts(ctx: Context, host: Host): string[] {
  return NETWORKS.filter((network) => host.addresses[network] !== undefined).map((network) =>
    ctx.names.portOf(host.name, network),
  );
}

/** The host goes silent: its cables are unplugged at the switch, its packets go nowhere. */
export async function silenceHost(ctx: Context, host: Host): Promise<void> {
  for (const port of switchPorts(ctx, host))
    await ctx.driver.exec(null, ip.linkDown(ctx.names.switchNamespace, port));
}

/** The host's cables are plugged back in. */
export async function restoreHost(ctx: Context, host: Host): Promise<void> {
  for (const port of switchPorts(ctx, host))
    await ctx.driver.exec(null, ip.linkUp(ctx.names.switchNamespace, port));
}

/** nftables rules that drop every packet between the host they are applied on and `peers`. */
export function partitionRules(peers: readonly Host[]): string {
  const addresses = peers.flatMap((peer) => Object.values(peer.addresses));
  const set = `{ ${addresses.join(', ')} }`;
  const table = `${FAULT_TABLE.family} ${FAULT_TABLE.name}`;
  return `add table ${table}
flush table ${table}
table ${table} {
    chain input {
        type filter hook input priority filter - 10; policy accept;
        ip saddr ${set} drop
    }
    chain output {
        type filter hook output priority filter - 10; policy accept;
        ip daddr ${set} drop
    }
}
`;
}

/**
 * `side` can no longer exchange a packet with `others` (both directions dropped, on `side`'s
 * hosts): a network partition, as a broken switch or a bad route makes it.
 */
export async function partition(
  ctx: Context,
  side: readonly Host[],
  others: readonly Host[],
): Promise<void> {
  for (const host of side) await ctx.driver.exec(host.name, nft.applyInput(partitionRules(others)));
}

/** Removes the partition rules from these hosts (no error where there are none). */
export async function healPartition(ctx: Context, side: readonly Host[]): Promise<void> {
  for (const host of side)
    await ctx.driver.exec(host.name, nft.deleteTable(FAULT_TABLE.family, FAULT_TABLE.name), {
      check: false,
    });
}

/** Whether a link's `ip -json link show` output says it is administratively up. */
export function linkIsUp(json: string): boolean {
  const links = JSON.parse(json) as { flags?: string[] }[];
  return links[0]?.flags?.includes('UP') === true;
}

/**
 * What faults have left on the lab: silenced hosts (a switch port down) and partition tables.
 * Empty when every heal was done. (Killed daemons show in `foobar status`.)
 */
export async function faultsLeft(ctx: Context): Promise<string[]> {
  const left: string[] = [];
  for (const host of ctx.model.hosts) {
    // Only the lab has a switch of foobar's to silence a host at.
    const ports = ctx.model.platform.kind === 'lab' ? switchPorts(ctx, host) : [];
    for (const port of ports) {
      const shown = await ctx.driver.exec(null, ip.linkShow(ctx.names.switchNamespace, port), {
        check: false,
      });
      if (shown.exitCode === 0 && !linkIsUp(shown.stdout))
        left.push(`${host.name} is silenced (switch port ${port} down)`);
    }
    const table = await ctx.driver.exec(
      host.name,
      nft.listTable(FAULT_TABLE.family, FAULT_TABLE.name),
      { check: false },
    );
    if (table.exitCode === 0) left.push(`${host.name} has partition rules (${FAULT_TABLE.name})`);
  }
  return left;
}
