/**
 * The lab's wiring: a namespace per host, a switch namespace with one bridge per network, veth
 * links from each host to the bridges of its networks, and this machine's link to the edge.
 * Bridges live in their own namespace so this machine's firewall (br_netfilter) never sees lab
 * traffic and its own ruleset stays untouched.
 */
import { ip } from '../../commands/ip.ts';
import { routeSubnet, subnetsOverlap } from '../../model/net.ts';
import { NETWORKS, type NetworkName } from '../../model/schema.ts';
import type { Context } from '../../steps/context.ts';

interface AddrInfo {
  readonly ifname: string;
  readonly addr_info?: readonly {
    readonly family: string;
    readonly local: string;
    readonly prefixlen: number;
  }[];
}

export async function existingNamespaces(ctx: Context): Promise<Set<string>> {
  if (ctx.direct !== undefined) return ctx.direct.namespaces();
  const { stdout } = await ctx.driver.exec(null, ip.netnsList());
  if (stdout.trim() === '') return new Set();
  return new Set((JSON.parse(stdout) as { name: string }[]).map((n) => n.name));
}

/**
 * "edge" → ["10.77.1.11/24"] as configured now inside a namespace (or this machine for null). A
 * load balancer's edge may also carry virtual addresses (keepalived's).
 */
async function addresses(ctx: Context, ns: string | null): Promise<Map<string, string[]>> {
  const { stdout } = await ctx.driver.exec(null, ip.addrShow(ns));
  const result = new Map<string, string[]>();
  for (const link of JSON.parse(stdout === '' ? '[]' : stdout) as AddrInfo[]) {
    for (const info of link.addr_info ?? []) {
      if (info.family !== 'inet') continue;
      result.set(link.ifname, [
        ...(result.get(link.ifname) ?? []),
        `${info.local}/${info.prefixlen}`,
      ]);
    }
  }
  return result;
}

function cidrOf(ctx: Context, network: NetworkName, address: string): string {
  return `${address}/${ctx.model.networks[network].subnet.prefix}`;
}

/** The links a host should have: interface name (the network's) → address/prefix. */
function expectedLinks(ctx: Context, host: string): Map<string, string> {
  const result = new Map<string, string>();
  const spec = ctx.model.hosts.find((h) => h.name === host);
  for (const network of NETWORKS) {
    const address = spec?.addresses[network];
    if (address !== undefined) result.set(network, cidrOf(ctx, network, address));
  }
  return result;
}

export async function ensureSwitch(ctx: Context, existing: Set<string>): Promise<boolean> {
  const ns = ctx.names.switchNamespace;
  if (existing.has(ns)) return false;
  await ctx.driver.exec(null, ip.netnsAdd(ns));
  await ctx.driver.exec(null, ip.linkUp(ns, 'lo'));
  for (const network of NETWORKS) {
    await ctx.driver.exec(null, ip.bridgeAdd(ns, network));
    await ctx.driver.exec(null, ip.linkUp(ns, network));
  }
  return true;
}

/** Creates a host's namespace and links, or checks an existing one has the model's addresses. */
export async function ensureHostNetwork(
  ctx: Context,
  host: string,
  existing: Set<string>,
): Promise<boolean> {
  const ns = ctx.names.namespaceOf(host);
  const expected = expectedLinks(ctx, host);
  if (existing.has(ns)) {
    const actual = await addresses(ctx, ns);
    for (const [link, cidr] of expected) {
      const found = actual.get(link) ?? [];
      if (!found.includes(cidr)) {
        throw new Error(
          `namespace ${ns} exists but its ${link} address is ${found.join(', ') || 'missing'}, not ${cidr}: ` +
            'it is left from an earlier run or another config. Run `foobar down` first.',
        );
      }
    }
    return false;
  }
  await ctx.driver.exec(null, ip.netnsAdd(ns));
  await ctx.driver.exec(null, ip.linkUp(ns, 'lo'));
  for (const [network, cidr] of expected) {
    const port = ctx.names.portOf(host, network);
    await ctx.driver.exec(
      null,
      ip.vethPair({ ns, name: network }, { ns: ctx.names.switchNamespace, name: port }),
    );
    await ctx.driver.exec(null, ip.linkSetMaster(ctx.names.switchNamespace, port, network));
    await ctx.driver.exec(null, ip.linkUp(ctx.names.switchNamespace, port));
    await ctx.driver.exec(null, ip.addrAdd(ns, network, cidr));
    await ctx.driver.exec(null, ip.linkUp(ns, network));
  }
  return true;
}

/** This machine's own link to the edge network, with the admin address. */
export async function ensureAdminLink(ctx: Context): Promise<boolean> {
  const link = ctx.names.adminLink;
  const cidr = cidrOf(ctx, 'edge', ctx.model.admin.edge);
  const current = (await addresses(ctx, null)).get(link);
  if (current?.includes(cidr) === true) return false;
  if (current !== undefined) {
    throw new Error(
      `${link} on this machine has ${current.join(', ')}, not ${cidr}: run \`foobar down\` first`,
    );
  }
  const port = ctx.names.portOf('admin', 'edge');
  await ctx.driver.exec(
    null,
    ip.vethPair({ ns: ctx.names.switchNamespace, name: port }, { ns: null, name: link }),
  );
  await ctx.driver.exec(null, ip.linkSetMaster(ctx.names.switchNamespace, port, 'edge'));
  await ctx.driver.exec(null, ip.linkUp(ctx.names.switchNamespace, port));
  await ctx.driver.exec(null, ip.addrAdd(null, link, cidr));
  await ctx.driver.exec(null, ip.linkUp(null, link));
  return true;
}

/**
 * Refuses subnets this machine already uses elsewhere: the lab would shadow them or be shadowed.
 * Returns the problems, empty when none.
 */
export async function subnetConflicts(ctx: Context): Promise<string[]> {
  const { stdout } = await ctx.driver.exec(null, ip.routeList());
  const routes = JSON.parse(stdout === '' ? '[]' : stdout) as { dst: string; dev?: string }[];
  const problems: string[] = [];
  for (const network of NETWORKS) {
    const subnet = ctx.model.networks[network].subnet;
    for (const route of routes) {
      if (route.dev === ctx.names.adminLink || route.dst === 'default') continue;
      const other = routeSubnet(route.dst);
      if (other !== undefined && subnetsOverlap(other, subnet)) {
        problems.push(
          `the ${network} network ${subnet.cidr} overlaps ${route.dst} on ${route.dev ?? 'this machine'}: ` +
            `choose another subnet in foobar.yaml (networks/${network}/subnet)`,
        );
      }
    }
  }
  return problems;
}
