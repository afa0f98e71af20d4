/**
 * Who holds the edge's virtual addresses now: what each load balancer has configured on its edge
 * interface (keepalived adds and removes them). Read by status, `up` and the tests.
 */
import { ip } from '../commands/ip.ts';
import { hostsWithRole, type VirtualAddress } from '../model/model.ts';
import type { Context } from '../steps/context.ts';

/** The network the virtual addresses live on (the load balancers' interface of that name). */
export const VRRP_NETWORK = 'edge';

export interface VirtualAddressHolding {
  readonly address: string;
  /** The load balancer that should hold it while its HAProxy is healthy. */
  readonly owner: string;
  /** The load balancers that have it configured now: one, normally the owner. */
  readonly holders: readonly string[];
}

interface AddrInfo {
  readonly ifname: string;
  readonly addr_info?: readonly { readonly family: string; readonly local: string }[];
}

/** The IPv4 addresses on a host's edge interface, or why they could not be read. */
export async function edgeAddresses(
  ctx: Context,
  host: string,
): Promise<string[] | { error: string }> {
  const result = await ctx.driver.exec(host, ip.addrShow(null), { check: false });
  if (result.exitCode !== 0) return { error: result.stderr.trim() || `exit ${result.exitCode}` };
  const links = JSON.parse(result.stdout === '' ? '[]' : result.stdout) as AddrInfo[];
  return links
    .filter((link) => link.ifname === VRRP_NETWORK)
    .flatMap((link) => link.addr_info ?? [])
    .filter((info) => info.family === 'inet')
    .map((info) => info.local);
}

/** The model's virtual addresses configured on a host now. */
export async function virtualAddressesOn(
  ctx: Context,
  host: string,
): Promise<VirtualAddress[] | { error: string }> {
  const addresses = await edgeAddresses(ctx, host);
  if ('error' in addresses) return addresses;
  return ctx.model.vrrp.virtualAddresses.filter((vip) => addresses.includes(vip.address));
}

/**
 * Each virtual address and the load balancers holding it. Hosts for which `present` is false
 * (namespace gone) are not asked; one that cannot be read holds nothing.
 */
export async function virtualAddressHolders(
  ctx: Context,
  present: (host: string) => boolean = () => true,
): Promise<VirtualAddressHolding[]> {
  const lbs = hostsWithRole(ctx.model, 'lb').filter((lb) => present(lb.name));
  const held = await Promise.all(
    lbs.map(async (lb) => {
      const vips = await virtualAddressesOn(ctx, lb.name);
      return { lb: lb.name, addresses: 'error' in vips ? [] : vips.map((v) => v.address) };
    }),
  );
  return ctx.model.vrrp.virtualAddresses.map((vip) => ({
    address: vip.address,
    owner: vip.owner,
    holders: held.filter((h) => h.addresses.includes(vip.address)).map((h) => h.lb),
  }));
}

/** "" when every address is held by its owner alone; otherwise what is off, address by address. */
export function describeHoldings(holdings: readonly VirtualAddressHolding[]): string {
  return holdings
    .filter((h) => h.holders.length !== 1 || h.holders[0] !== h.owner)
    .map(
      (h) =>
        `${h.address} (${h.owner}'s) held by ${h.holders.length === 0 ? 'nobody' : h.holders.join(' and ')}`,
    )
    .join(', ');
}
