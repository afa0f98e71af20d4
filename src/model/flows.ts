/**
 * Who may talk to whom: the one list the firewall rules and the reachability test both read, in
 * both directions. A flow opens its destination's input to its source, and its source's output to
 * its destination. Everything not listed here is dropped on input, refused on output, and counted
 * by the host firewalls.
 */
import {
  hostsWithRole,
  type Host,
  type Model,
  type NetworkName,
  type Outside,
  type PortName,
  type Role,
} from './model.ts';
import { ROLE_NETWORKS } from './build.ts';
import { FAILOVER_ROLES, MANAGED_ROLES } from './failover.ts';
import { sharedState } from './layout.ts';
import { ROLES, type PlatformKind } from './schema.ts';
import { PROBE_JOBS, SCRAPE_JOBS, scrapeNetwork } from './monitoring.ts';

/** `internet`: any address on the edge network; `admin`: this machine's own edge address. */
export type FlowSource = Role | 'internet' | 'admin';

/**
 * Where a flow ends: a role's hosts, or `shared-state`: the one host that keeps the lock, the
 * audit log and database.json (layout.ts sharedState: on machines the monitor, else the first
 * machine; in the lab this machine, so no host).
 */
export type FlowDestination = Role | 'shared-state';

/**
 * The roles that stand for the internet: their hosts open the internet's flows, and what they open
 * is not ours to restrict (their output is left open), as a visitor's machine is not: the servers'
 * own input rules are what the site relies on, and the tests need a source that can try them.
 */
export const INTERNET_ROLES: readonly Role[] = ['client'];

/**
 * What every restricted host opens for itself, beside the flows of its roles: its loopback (Nginx
 * to the app, an exporter to its daemon, Prometheus to the monitor's own daemons and the
 * Alertmanager's webhook to the dashboard, a host to its own addresses), and its kernel's IPv6
 * housekeeping on each link. On machines also what the model's `machines:` names outside the site
 * (`outsideNeeds`): the resolver, the time servers, and the package mirror while `up` installs.
 * Nothing else: in the lab
 * no server resolves a name (every address comes from the model, MariaDB skips name resolution),
 * keeps time over the network or installs a package; the resolver the model names (the lab's name
 * servers, `renderResolvConf`) is the internet's hosts' only.
 */
export const OWN_NEEDS = {
  loopback: { why: 'a host to itself: its daemons to one another, to its own addresses' },
  // The lab speaks IPv4 only, but each link has an IPv6 link-local address, and the kernel keeps
  // soliciting a router on it (forever, backing off to once an hour) and reporting the multicast
  // groups it listens to: its own housekeeping on the link, never a process's connection.
  ipv6Link: {
    icmpv6: [
      'nd-router-solicit',
      'nd-neighbor-solicit',
      'nd-neighbor-advert',
      'mld-listener-report',
      'mld2-listener-report',
    ],
    why: 'the kernel’s IPv6 housekeeping on each link: router and neighbour discovery, multicast reports',
  },
  // On machines only, to the addresses the model names (Outside): a real server looks names up
  // (apt its mirror's, an operator's tools theirs), keeps its clock (certificates are checked
  // against it) and, while `up` provisions it, downloads packages.
  resolvers: { udp: [53], tcp: [53], why: 'its resolver (/etc/resolv.conf): name lookups' },
  timeServers: { udp: [123], tcp: [], why: 'its clock (NTP)' },
  mirrors: {
    udp: [],
    tcp: [80, 443],
    why: 'the package mirror, only while up installs packages (the set is filled then)',
  },
} as const;

/** What a machine reaches outside the site for itself, by the name the model gives it. */
export type OutsideNeed = keyof Outside;

/**
 * The outside needs a host's output opens: on machines every server's (not a host that stands
 * for the internet: its output is open), none in the lab. `mirrors` is opened only while `up`
 * installs packages (provisioning fills the firewall's mirror set); the others always.
 */
export function outsideNeeds(
  model: Model,
  host: Host,
): { need: OutsideNeed; addresses: readonly string[] }[] {
  if (model.platform.kind !== 'machines' || standsForInternet(host)) return [];
  const { outside } = model.platform;
  return (['resolvers', 'timeServers', 'mirrors'] as const).flatMap((need) =>
    outside[need].length === 0 ? [] : [{ need, addresses: outside[need] }],
  );
}

interface FlowBase {
  readonly from: FlowSource;
  readonly to: FlowDestination;
  /** The network the traffic crosses: the destination's address on it is the one used. */
  readonly network: NetworkName;
  /** Also to the edge's virtual addresses, which any load balancer may hold (`vrrp` in the model). */
  readonly virtual?: boolean;
  /** Only on these platforms (default: every one). */
  readonly platforms?: readonly PlatformKind[];
  readonly why: string;
}

/** Traffic to a port. */
export interface PortFlow extends FlowBase {
  readonly port: PortName;
  readonly proto: 'tcp' | 'udp';
}

/** Traffic of an IP protocol without ports: VRRP (IP protocol 112) between the load balancers. */
export interface ProtocolFlow extends FlowBase {
  readonly proto: 'vrrp';
}

export type Flow = PortFlow | ProtocolFlow;

/** IP protocol numbers of the port-less protocols a flow may name. */
export const IP_PROTOCOLS: Readonly<Record<ProtocolFlow['proto'], number>> = { vrrp: 112 };

export const FLOWS: readonly Flow[] = [
  { from: 'internet', to: 'dns', port: 'dns', proto: 'udp', network: 'edge', why: 'name lookups' },
  {
    from: 'internet',
    to: 'dns',
    port: 'dns',
    proto: 'tcp',
    network: 'edge',
    why: 'large answers, zone checks',
  },
  {
    from: 'internet',
    to: 'lb',
    port: 'http',
    proto: 'tcp',
    network: 'edge',
    virtual: true,
    why: 'the site (redirects to HTTPS)',
  },
  {
    from: 'internet',
    to: 'lb',
    port: 'https',
    proto: 'tcp',
    network: 'edge',
    virtual: true,
    why: 'the site',
  },
  {
    from: 'lb',
    to: 'lb',
    proto: 'vrrp',
    network: 'edge',
    why: 'VRRP adverts (keepalived, unicast): who holds which virtual address',
  },
  {
    from: 'lb',
    to: 'web',
    port: 'https',
    proto: 'tcp',
    network: 'core',
    why: 'proxied requests and health checks, over TLS',
  },
  { from: 'web', to: 'db', port: 'mysql', proto: 'tcp', network: 'core', why: 'the app’s queries' },
  {
    from: 'db',
    to: 'db',
    port: 'mysql',
    proto: 'tcp',
    network: 'core',
    why: 'replication, promotion',
  },
  // Backups: a replica streams its full backup to the backup host; the backup host follows the
  // primary's binary log (and closes its file) and asks the servers who is the primary.
  {
    from: 'db',
    to: 'backup',
    port: 'backupStream',
    proto: 'tcp',
    network: 'core',
    why: 'a replica’s full backup, streamed (mbstream) to the backup host',
  },
  {
    from: 'backup',
    to: 'db',
    port: 'mysql',
    proto: 'tcp',
    network: 'core',
    why: 'the binary log archived as it is written; who is the primary',
  },
  // On machines the backup agent acts over SSH with its own key (steps/backup-access.ts): it
  // starts a full backup on a replica, and reads who is the primary in database.json, wherever
  // it lives (model/layout.ts sharedState: the monitor, or the first machine without one).
  ...(['db', 'shared-state'] as const).map((to): Flow => ({
    from: 'backup',
    to,
    port: 'ssh',
    proto: 'tcp',
    network: 'core',
    platforms: ['machines'],
    why:
      to === 'db'
        ? 'the backup agent starts a replica’s full backup (its own SSH key)'
        : 'the backup agent reads who is the primary (its own SSH key)',
  })),
  {
    from: 'admin',
    to: 'lb',
    port: 'lbStats',
    proto: 'tcp',
    network: 'edge',
    why: 'HAProxy stats page',
  },
  // On real machines the operator's SSH is a flow like any other: foobar itself arrives by it,
  // so a firewall without it would lock the operator out (firewall changes there roll back by
  // themselves unless foobar reaches the host again: steps/firewall-guard.ts).
  // A role on the edge is reached there; the others (web, db, backup) on the core, from a jump
  // host or VPN (the model's admin.core).
  ...ROLES.filter((role) => !INTERNET_ROLES.includes(role)).map((to): Flow => ({
    from: 'admin',
    to,
    port: 'ssh',
    proto: 'tcp',
    network: ROLE_NETWORKS[to].needs.includes('edge') ? 'edge' : 'core',
    platforms: ['machines'],
    why: 'the operator’s SSH (foobar itself)',
  })),
  {
    from: 'admin',
    to: 'mon',
    port: 'dashboard',
    proto: 'tcp',
    network: 'edge',
    why: 'the monitoring dashboard',
  },
  // Automatic failover: etcd's members talk among themselves (raft, and a manager whose own
  // member is down asks another); each manager watches the databases from its own place.
  ...failoverFlows(),
  // The monitor's prober asks what has no exporter as a visitor would, from the monitor only:
  // the internet's flows already admit it, these open the monitor's output.
  ...Object.values(PROBE_JOBS).map((probe): Flow => ({
    from: 'mon',
    to: probe.role,
    port: probe.port,
    proto: probe.proto,
    network: 'edge',
    ...('virtual' in probe ? { virtual: probe.virtual } : {}),
    why: `blackbox probe: ${probe.why}`,
  })),
  // The monitor scrapes every exporter; nobody else may.
  ...SCRAPE_JOBS.flatMap((job) =>
    job.roles
      .filter((role) => role !== 'mon')
      .map((role): Flow => ({
        from: 'mon',
        to: role,
        port: job.port,
        proto: 'tcp',
        network: scrapeNetwork(role),
        ...(job.platforms === undefined ? {} : { platforms: job.platforms }),
        why: job.why,
      })),
  ),
];

function failoverFlows(): Flow[] {
  const flows: Flow[] = [];
  for (const from of FAILOVER_ROLES) {
    for (const to of FAILOVER_ROLES) {
      for (const port of ['etcdPeer', 'etcdClient'] as const) {
        flows.push({
          from,
          to,
          port,
          proto: 'tcp',
          network: 'core',
          why: port === 'etcdPeer' ? 'etcd members among themselves' : 'failover managers to etcd',
        });
      }
    }
    flows.push({
      from,
      to: 'db',
      port: 'mysql',
      proto: 'tcp',
      network: 'core',
      why: 'failover managers watch the primary',
    });
    // In the lab the managers act through this machine's driver; on machines over SSH: on the
    // servers, and on the host that keeps database.json, the lock and the audit log (the monitor,
    // or without one the first machine, whatever its roles).
    for (const to of [...MANAGED_ROLES, 'shared-state'] as const)
      flows.push({
        from,
        to,
        port: 'ssh',
        proto: 'tcp',
        network: 'core',
        platforms: ['machines'],
        why: 'failover managers act: fence, promote, tell the apps (their own SSH key)',
      });
  }
  return flows;
}

/** One allowed connection between concrete addresses. `from` is a host name or "admin". */
export interface ConcreteFlow {
  readonly from: string;
  readonly to: string;
  readonly address: string;
  readonly port: number;
  readonly proto: 'tcp' | 'udp';
}

/**
 * The addresses a flow's packets come from, as the destination sees them on the flow's network;
 * `any` for the internet (whatever arrives on the edge).
 */
export function sourceAddresses(model: Model, flow: Flow): readonly string[] | 'any' {
  if (flow.from === 'internet') return 'any';
  if (flow.from === 'admin') {
    const address = flow.network === 'edge' ? model.admin.edge : model.admin.core;
    return address === undefined ? [] : [address];
  }
  return hostsWithRole(model, flow.from).flatMap((h) => {
    const address = h.addresses[flow.network];
    return address === undefined ? [] : [address];
  });
}

/** The flows of the model's platform. */
export function flowsOf(model: Model): Flow[] {
  return FLOWS.filter(
    (flow) => flow.platforms === undefined || flow.platforms.includes(model.platform.kind),
  );
}

/** The hosts a flow ends at. */
export function destinationHosts(model: Model, to: FlowDestination): Host[] {
  if (to !== 'shared-state') return hostsWithRole(model, to);
  const shared = sharedState(model).host;
  return model.hosts.filter((host) => host.name === shared);
}

/** The flows that end at a host, with the host's address on each flow's network. */
export function flowsInto(model: Model, host: Host): { flow: Flow; address: string }[] {
  return flowsOf(model).flatMap((flow) => {
    const address = host.addresses[flow.network];
    const ends = destinationHosts(model, flow.to).some((h) => h.name === host.name);
    return ends && address !== undefined ? [{ flow, address }] : [];
  });
}

/** A host that stands for the internet: its output is not restricted (INTERNET_ROLES). */
export function standsForInternet(host: Host): boolean {
  return host.roles.some((role) => INTERNET_ROLES.includes(role));
}

/** Whether a host opens a flow: one of its roles is the flow's source. */
export function opens(host: Host, flow: Flow): boolean {
  return flow.from === 'internet'
    ? standsForInternet(host)
    : flow.from !== 'admin' && host.roles.includes(flow.from);
}

/**
 * The flows a host opens, each with the addresses it may send them to: every other host of the
 * destination's role on the flow's network, and the virtual addresses for a flow to them. The
 * same flows as the destinations' input rules, seen from the other end. A flow that reaches no
 * other host (this host is its role's only one) is left out: to itself, loopback carries it.
 */
export function flowsOutOf(model: Model, host: Host): { flow: Flow; addresses: string[] }[] {
  const own = new Set(Object.values(host.addresses));
  return flowsOf(model).flatMap((flow) => {
    if (!opens(host, flow) || host.addresses[flow.network] === undefined) return [];
    const hosts = destinationHosts(model, flow.to).flatMap((h) => {
      const address = h.addresses[flow.network];
      return address === undefined || own.has(address) ? [] : [address];
    });
    if (hosts.length === 0) return [];
    const virtual = flow.virtual === true ? model.vrrp.virtualAddresses.map((v) => v.address) : [];
    return [{ flow, addresses: [...hosts, ...virtual] }];
  });
}

/** Where a flow's packets may be addressed on a host: its own address, and the virtual ones. */
export function destinationAddresses(model: Model, flow: Flow, address: string): string[] {
  return flow.virtual === true
    ? [address, ...model.vrrp.virtualAddresses.map((v) => v.address)]
    : [address];
}

/** Who opens a flow: this machine ("admin"), and the hosts whose roles open it. */
function sources(model: Model, from: FlowSource): string[] {
  if (from === 'admin') return ['admin'];
  if (from === 'internet') {
    return ['admin', ...model.hosts.filter(standsForInternet).map((h) => h.name)];
  }
  return hostsWithRole(model, from).map((h) => h.name);
}

/**
 * Every (source, destination, port) the model allows, in a stable order, without self-flows: what
 * the source's output and the destination's input both let through. The internet's flows are
 * opened by this machine and the hosts that stand for the internet; a server on the edge opens
 * only its roles' flows. Port-less flows (VRRP) are not among them: the load balancers agreeing on
 * who holds which virtual address shows that their adverts pass.
 */
export function concreteFlows(model: Model): ConcreteFlow[] {
  const result: ConcreteFlow[] = [];
  for (const flow of flowsOf(model)) {
    if (flow.proto === 'vrrp') continue;
    for (const dst of destinationHosts(model, flow.to)) {
      const address = dst.addresses[flow.network];
      if (address === undefined) continue;
      for (const src of sources(model, flow.from)) {
        if (src === dst.name) continue;
        result.push({
          from: src,
          to: dst.name,
          address,
          port: model.ports[flow.port],
          proto: flow.proto,
        });
      }
    }
  }
  return result;
}

export function isAllowed(
  flows: readonly ConcreteFlow[],
  from: string,
  to: Host,
  port: number,
  proto: 'tcp' | 'udp',
): boolean {
  return flows.some(
    (f) => f.from === from && f.to === to.name && f.port === port && f.proto === proto,
  );
}
