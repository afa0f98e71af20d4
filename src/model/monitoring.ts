/**
 * What the monitor watches: which exporter runs on which role and on which port. The scrape
 * config, the flows (so the firewall opens exactly these ports, to the monitor only) and the
 * dashboard all read this one table.
 */
import { ROLE_NETWORKS } from './build.ts';
import { addressOf, hostsWithRole, type Host, type Model, type NetworkName } from './model.ts';
import type { PlatformKind, PortName, Role } from './schema.ts';
import { networkName } from './transit.ts';

export interface ScrapeJob {
  /** The Prometheus job name; alert rules and the dashboard select on it. */
  readonly job: string;
  readonly port: PortName;
  readonly roles: readonly Role[];
  /** Only on these platforms (default: every one). */
  readonly platforms?: readonly PlatformKind[];
  readonly why: string;
}

/**
 * Exporters the monitor scrapes over the network, on every host of their roles: every one over
 * TLS, with the lab CA's certificate for the host's name and address there (model/transit.ts),
 * which the monitor verifies by that name. The app's metrics come through Nginx with Nginx's
 * certificate; every other endpoint presents the host's exporters' certificate.
 */
export const SCRAPE_JOBS: readonly ScrapeJob[] = [
  // Every server foobar runs; not the client, which stands for the internet.
  {
    job: 'node',
    port: 'nodeExporter',
    roles: ['dns', 'lb', 'web', 'db', 'mon', 'backup'],
    why: 'host metrics',
  },
  { job: 'haproxy', port: 'lbStats', roles: ['lb'], why: 'HAProxy’s built-in exporter' },
  { job: 'nginx', port: 'nginxExporter', roles: ['web'], why: 'Nginx exporter (stub_status)' },
  { job: 'app', port: 'appMetrics', roles: ['web'], why: 'the app’s /metrics, through Nginx' },
  { job: 'mysqld', port: 'mysqldExporter', roles: ['db'], why: 'MariaDB exporter' },
  {
    job: 'failover',
    port: 'failoverMetrics',
    roles: ['lb', 'mon'],
    why: 'the failover managers (leader, armed or paused, failovers)',
  },
  {
    job: 'backup',
    port: 'backupMetrics',
    roles: ['backup'],
    why: 'the backup agent (newest full backup, archived binary log)',
  },
];

/** Daemons of the monitor itself, scraped on its loopback (no flow crosses a network). */
export const LOCAL_JOBS = [
  { job: 'prometheus', port: 'prometheus' },
  { job: 'alertmanager', port: 'alertmanager' },
  { job: 'blackbox', port: 'blackboxExporter' },
] as const satisfies readonly { job: string; port: PortName }[];

/**
 * The job that scrapes a daemon's port, if any: a fresh successful scrape answers that daemon's
 * own health probe (`foobar status` reads it instead of asking again).
 */
export function scrapedAs(port: PortName): { scrapedAs?: string } {
  const job = [...SCRAPE_JOBS, ...LOCAL_JOBS].find((j) => j.port === port)?.job;
  return job === undefined ? {} : { scrapedAs: job };
}

export interface ProbeJob {
  /** The Prometheus job, and the blackbox exporter's module of the same name. */
  readonly job: string;
  readonly role: Role;
  readonly port: PortName;
  /** What the probe's packets travel on: the flows open it from the monitor. */
  readonly proto: 'tcp' | 'udp';
  /** Probe the edge's virtual addresses (labelled with their owners), not the role's hosts. */
  readonly virtual?: boolean;
  readonly why: string;
}

/**
 * What the blackbox exporter on the monitor probes over the edge, as a client would: what has no
 * exporter of its own, or must be seen from outside.
 */
export const PROBE_JOBS = {
  dns: {
    job: 'dns',
    role: 'dns',
    port: 'dns',
    proto: 'udp',
    why: 'the site’s name asked of the DNS server (NSD exports no metrics)',
  },
  tls: {
    job: 'tls',
    role: 'lb',
    port: 'https',
    proto: 'tcp',
    why: 'each load balancer’s TLS handshake, and when its certificate expires',
  },
  vip: {
    job: 'vip',
    role: 'lb',
    port: 'https',
    proto: 'tcp',
    virtual: true,
    why: 'the TLS handshake through each virtual address, where DNS sends visitors',
  },
} as const satisfies Record<string, ProbeJob>;

/**
 * The addresses a probe connects to: each host of its role, on the edge; or each virtual
 * address, labelled with the load balancer that owns it.
 */
export function probeTargets(model: Model, probe: ProbeJob): ScrapeTarget[] {
  if (probe.virtual === true) {
    return model.vrrp.virtualAddresses.map((vip) => ({
      host: vip.owner,
      address: `${vip.address}:${model.ports[probe.port]}`,
    }));
  }
  return hostsWithRole(model, probe.role).map((host) => ({
    host: host.name,
    address: `${addressOf(host, 'edge')}:${model.ports[probe.port]}`,
  }));
}

/** The network the monitor reaches a role on: the private one where the role has it. */
export function scrapeNetwork(role: Role): NetworkName {
  return ROLE_NETWORKS[role].needs.includes('core') ? 'core' : 'edge';
}

/** The network a host's exporters listen on and the monitor scrapes it on. */
function hostScrapeNetwork(host: Host): NetworkName {
  return host.addresses.core === undefined ? 'edge' : 'core';
}

/** The address of a host that its exporters listen on and the monitor scrapes. */
export function scrapeAddress(host: Host): string {
  return addressOf(host, hostScrapeNetwork(host));
}

/** The name the monitor verifies a host's exporters' certificates by (its name there). */
export function scrapeServerName(model: Model, host: Host): string {
  return networkName(model, host, hostScrapeNetwork(host));
}

export interface ScrapeTarget {
  readonly host: string;
  /** "10.77.2.21:9113" */
  readonly address: string;
  /** What its certificate must name: "web-01.core.foobar.com". */
  readonly serverName?: string;
}

/** The hosts a job scrapes, in the model's (sorted) host order. */
export function scrapeTargets(model: Model, job: ScrapeJob): ScrapeTarget[] {
  if (job.platforms !== undefined && !job.platforms.includes(model.platform.kind)) return [];
  return model.hosts
    .filter((host) => host.roles.some((role) => job.roles.includes(role)))
    .map((host) => ({
      host: host.name,
      address: `${scrapeAddress(host)}:${model.ports[job.port]}`,
      serverName: scrapeServerName(model, host),
    }));
}

/** Jobs that run on a host, by its roles. */
export function jobsOn(host: Host): ScrapeJob[] {
  return SCRAPE_JOBS.filter((job) => host.roles.some((role) => job.roles.includes(role)));
}

/** The monitoring host (the first with the mon role), or undefined when the model has none. */
export function monitorHost(model: Model): Host | undefined {
  return hostsWithRole(model, 'mon')[0];
}

/** The dashboard, as the admin's browser opens it. */
export function dashboardUrl(model: Model): string | undefined {
  const mon = monitorHost(model);
  return mon === undefined
    ? undefined
    : `http://${addressOf(mon, 'edge')}:${model.ports.dashboard}/`;
}

/**
 * The longest a failure may take to become a firing alert: the next scrape sees it, the next
 * evaluation makes the alert pending, it stays so `alertAfterSeconds`, and the evaluation after
 * that fires it. Tests hold the lab to this.
 */
export function alertDeadlineSeconds(model: Model): number {
  const m = model.monitoring;
  return m.scrapeIntervalSeconds + 2 * m.evaluationIntervalSeconds + m.alertAfterSeconds;
}

/**
 * How often each host's firewall counts are read for its node exporter: the scrape interval, but
 * 20 s at most often. A reading costs about 20 ms of CPU (nft builds its cache of the table:
 * measured 18 ms a listing in a lab namespace), on every host; the alert on them looks at
 * minutes, and `foobar status` reads the counters themselves.
 */
export function firewallCountsIntervalSeconds(model: Model): number {
  return Math.max(model.monitoring.scrapeIntervalSeconds, 20);
}

/** Counts older than this mean their writer stopped. */
export function firewallCountsStaleSeconds(model: Model): number {
  return 3 * firewallCountsIntervalSeconds(model) + model.monitoring.scrapeIntervalSeconds;
}
