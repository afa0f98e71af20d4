/**
 * `foobar status`: every host and service as probes see them now, and what the load balancers
 * think of the web servers. The same structure is printed as a table or as JSON.
 */
import { addressOf, hostsWithRole, type Host } from '../model/model.ts';
import { siteCurlFlags, siteUrl } from '../probes/site.ts';
import { backendServers, type BackendServer } from '../probes/haproxy.ts';
import { httpRequest } from '../probes/http.ts';
import {
  prometheusAlerts,
  prometheusTargets,
  type Alert,
  type Target,
} from '../probes/prometheus.ts';
import { dashboardUrl, monitorHost } from '../model/monitoring.ts';
import type { Context } from './context.ts';
import { runningPid } from './daemon.ts';
import { liveRelease, verifyRelease } from './release.ts';
import { daemonsOf } from './services.ts';
import { firewallCounts } from './firewall.ts';
import { firewallCountsFile } from './monitoring.ts';
import {
  describeHoldings,
  virtualAddressHolders,
  type VirtualAddressHolding,
} from '../probes/vrrp.ts';

export interface ServiceStatus {
  readonly name: string;
  readonly healthy: boolean;
  readonly pid?: number;
  /** Why it is not healthy, or a detail worth showing. */
  readonly detail?: string;
}

export interface HostStatus {
  readonly name: string;
  readonly roles: readonly string[];
  readonly addresses: Readonly<Record<string, string>>;
  readonly up: boolean;
  readonly release?: string;
  readonly services: readonly ServiceStatus[];
  /** Packets its firewall dropped (input), when the host is up. */
  readonly dropped?: number;
  /** Packets it tried to send that its firewall refused (output), when the host is up. */
  readonly refused?: number;
}

export interface LoadBalancerView {
  readonly name: string;
  readonly servers: readonly BackendServer[];
  readonly error?: string;
}

export interface SiteCheck {
  readonly url: string;
  readonly via: string;
  readonly ok: boolean;
  readonly detail: string;
}

export type Health = 'healthy' | 'degraded' | 'failed';

/** The releases on the web servers: which is live where, and anything that differs. */
export interface ReleaseCheck {
  readonly live: Readonly<Record<string, string | null>>;
  /** Empty when every web server serves one release and every file matches its manifest. */
  readonly drift: readonly string[];
}

/** What the monitor sees: Prometheus' targets and the alerts firing now. */
export interface MonitoringStatus {
  /** Where the admin opens the dashboard. */
  readonly dashboard: string;
  readonly targets: {
    readonly up: number;
    readonly total: number;
    /** "app on web-01: <why>" for each target down. */
    readonly down: readonly string[];
  };
  readonly alerts: readonly Alert[];
  /** Why Prometheus could not be asked. */
  readonly error?: string;
}

export interface LabStatus {
  readonly lab: string;
  readonly domain: string;
  readonly health: Health;
  readonly hosts: readonly HostStatus[];
  readonly loadBalancers: readonly LoadBalancerView[];
  /** Who holds each virtual address of the edge now (normally its owner alone). */
  readonly virtualAddresses: readonly VirtualAddressHolding[];
  readonly site: readonly SiteCheck[];
  readonly releases: ReleaseCheck;
  /** Absent when the model has no monitoring host. */
  readonly monitoring?: MonitoringStatus;
}

type Targets = Target[] | { error: string };

/**
 * Whether Prometheus scraped `job` on `host` successfully within the last three intervals: the
 * monitor asked the same page a moment ago, so status need not ask it again.
 */
function freshlyScraped(ctx: Context, targets: Targets, job: string, host: string): boolean {
  if ('error' in targets) return false;
  const target = targets.find((t) => t.job === job && t.host === host);
  const maxAgeMs = 3 * ctx.model.monitoring.scrapeIntervalSeconds * 1000;
  return target !== undefined && target.up && Date.now() - target.lastScrape <= maxAgeMs;
}

/**
 * What a load balancer's HAProxy answered for its stats (its view of the web servers, from its
 * admin socket in the lab, its stats port elsewhere): when it answered at all, HAProxy is
 * serving, and its own probe need not be asked.
 */
type StatsAnswers = ReadonlyMap<string, Promise<BackendServer[] | { error: string }>>;

async function hostStatus(
  ctx: Context,
  host: Host,
  present: boolean,
  targets: Promise<Targets>,
  stats: StatsAnswers,
): Promise<HostStatus> {
  const base = { name: host.name, roles: host.roles, addresses: { ...host.addresses } };
  const daemons = await daemonsOf(ctx, host);
  if (!present) {
    return {
      ...base,
      up: false,
      services: daemons.map((d) => ({
        name: d.service,
        healthy: false,
        detail: 'host is down (run foobar up)',
      })),
    };
  }
  // Each question as soon as it can be asked: the PIDs (one round trip on machines), then each
  // running daemon's probe (a daemon Prometheus scrapes once its targets are known, the others
  // at once); the release and the firewall's counts beside them.
  const { supervisor } = ctx.platform;
  const serviceStatuses = async (): Promise<ServiceStatus[]> => {
    const pids =
      supervisor.mainPids === undefined
        ? await Promise.all(daemons.map((daemon) => runningPid(ctx, daemon)))
        : await supervisor.mainPids(ctx, host.name, daemons);
    return Promise.all(
      daemons.map(async (daemon, i): Promise<ServiceStatus> => {
        const pid = pids[i];
        if (pid === undefined)
          return { name: daemon.service, healthy: false, detail: 'not running' };
        const scraped =
          daemon.scrapedAs !== undefined &&
          freshlyScraped(ctx, await targets, daemon.scrapedAs, host.name);
        const viaStats = daemon.service === 'haproxy' ? stats.get(host.name) : undefined;
        const answered = viaStats !== undefined && !('error' in (await viaStats));
        const problem = scraped || answered ? undefined : await daemon.probe(ctx);
        return problem === undefined
          ? { name: daemon.service, healthy: true, pid }
          : { name: daemon.service, healthy: false, pid, detail: problem };
      }),
    );
  };
  const [services, release, { dropped, refused }] = await Promise.all([
    serviceStatuses(),
    host.roles.includes('web') ? liveRelease(ctx, host.name) : undefined,
    firewallCounts(
      ctx,
      host.name,
      // Where its counting loop writes them, if it runs one (read without a process).
      daemons.some((d) => d.service === 'firewall-counts')
        ? firewallCountsFile(ctx, host)
        : undefined,
    ),
  ]);
  return {
    ...base,
    up: true,
    ...(release === undefined ? {} : { release }),
    services,
    ...(dropped === undefined ? {} : { dropped }),
    ...(refused === undefined ? {} : { refused }),
  };
}

/**
 * How long status waits for the site's answer before it says the site failed: a visitor waits
 * that long too. curl's 2 s default made a working site "failed" on machines at a load average
 * of 15 (both load balancers "timed out" while every daemon ran and the next tests served).
 */
const SITE_CHECK_TIMEOUT_S = 6;

/**
 * A page through each load balancer, fetched from the client host over HTTPS with the lab's CA:
 * what a user gets (the address is pinned so each load balancer is asked in turn). Machines
 * without a client host are asked from this machine, as the operator's browser would.
 */
async function siteChecks(ctx: Context, clientPresent: boolean): Promise<SiteCheck[]> {
  const client = hostsWithRole(ctx.model, 'client')[0];
  const fromHere = client === undefined && ctx.model.platform.kind === 'machines';
  return Promise.all(
    hostsWithRole(ctx.model, 'lb').map(async (lb): Promise<SiteCheck> => {
      const url = `${siteUrl(ctx.model)}api/whoami`;
      if (!fromHere && (client === undefined || !clientPresent))
        return { url, via: lb.name, ok: false, detail: 'no client host' };
      const result = await httpRequest(ctx.driver, fromHere ? null : (client?.name ?? null), url, {
        flags: siteCurlFlags(ctx.model, addressOf(lb, 'edge')),
        timeoutSeconds: SITE_CHECK_TIMEOUT_S,
      });
      if ('error' in result) return { url, via: lb.name, ok: false, detail: result.error };
      return {
        url,
        via: lb.name,
        ok: result.status === 200,
        detail: `${result.status} in ${Math.round(result.seconds * 1000)} ms`,
      };
    }),
  );
}

async function releaseCheck(
  ctx: Context,
  present: (host: string) => boolean,
): Promise<ReleaseCheck> {
  const webs = hostsWithRole(ctx.model, 'web').filter((web) => present(web.name));
  const live: Record<string, string | null> = {};
  const drift: string[] = [];
  const checked = await Promise.all(
    webs.map(async (web) => {
      const id = await liveRelease(ctx, web.name);
      return { web, id, problems: id === undefined ? [] : await verifyRelease(ctx, web.name, id) };
    }),
  );
  for (const { web, id, problems } of checked) {
    live[web.name] = id ?? null;
    if (id === undefined) drift.push(`${web.name}: no release`);
    for (const problem of problems) drift.push(`${web.name}: ${id ?? ''}/${problem}`);
  }
  const ids = new Set(Object.values(live));
  if (ids.size > 1) {
    drift.unshift(
      `web servers serve different releases: ${Object.entries(live)
        .map(([h, id]) => `${h} ${id ?? 'none'}`)
        .join(', ')}`,
    );
  }
  return { live, drift };
}

async function monitoringStatus(
  ctx: Context,
  monPresent: boolean,
  targets: Targets,
): Promise<MonitoringStatus | undefined> {
  const dashboard = dashboardUrl(ctx.model);
  if (dashboard === undefined) return undefined;
  const none = { up: 0, total: 0, down: [] };
  if (!monPresent) return { dashboard, targets: none, alerts: [], error: 'host is down' };
  const alerts = await prometheusAlerts(ctx);
  const error = 'error' in targets ? targets.error : 'error' in alerts ? alerts.error : undefined;
  return {
    dashboard,
    targets:
      'error' in targets
        ? none
        : {
            up: targets.filter((t) => t.up).length,
            total: targets.length,
            down: targets
              .filter((t) => !t.up)
              .map((t) => `${t.job} on ${t.host}${t.lastError === '' ? '' : `: ${t.lastError}`}`),
          },
    alerts: 'error' in alerts ? [] : alerts.filter((a) => a.state === 'firing'),
    ...(error === undefined ? {} : { error }),
  };
}

/**
 * Everything is asked at once, and Prometheus first: what it scraped a moment ago answers for the
 * exporters (see `scrapedAs`), so status spawns a process per question it alone can answer.
 */
export async function labStatus(ctx: Context): Promise<LabStatus> {
  const mon = monitorHost(ctx.model);
  // Asked before the hosts are known present: a monitor that is not gets its answer ignored.
  const targets: Promise<Targets> =
    mon === undefined
      ? Promise.resolve({ error: 'no monitor' })
      : prometheusTargets(ctx).catch((error: unknown) => ({ error: (error as Error).message }));
  const present = await ctx.platform.present(ctx);
  const monPresent = mon !== undefined && present(mon.name);
  const known: Promise<Targets> = monPresent
    ? targets
    : targets.then(() => ({ error: 'host is down' }));
  const client = hostsWithRole(ctx.model, 'client')[0];
  const lbs = hostsWithRole(ctx.model, 'lb');
  const stats: StatsAnswers = new Map(
    lbs.filter((lb) => present(lb.name)).map((lb) => [lb.name, backendServers(ctx, lb.name)]),
  );
  const [hosts, loadBalancers, virtualAddresses, site, releases, monitoring] = await Promise.all([
    Promise.all(
      ctx.model.hosts.map((host) => hostStatus(ctx, host, present(host.name), known, stats)),
    ),
    Promise.all(
      lbs.map(async (lb): Promise<LoadBalancerView> => {
        const asked = stats.get(lb.name);
        if (asked === undefined) return { name: lb.name, servers: [], error: 'host is down' };
        const servers = await asked;
        return 'error' in servers
          ? { name: lb.name, servers: [], error: servers.error }
          : { name: lb.name, servers };
      }),
    ),
    virtualAddressHolders(ctx, present),
    siteChecks(ctx, client !== undefined && present(client.name)),
    releaseCheck(ctx, present),
    known.then((answered) => monitoringStatus(ctx, monPresent, answered)),
  ]);
  const allHealthy =
    releases.drift.length === 0 &&
    describeHoldings(virtualAddresses) === '' &&
    (monitoring === undefined ||
      (monitoring.error === undefined &&
        monitoring.targets.down.length === 0 &&
        monitoring.alerts.length === 0)) &&
    hosts.every((h) => h.up && h.services.every((s) => s.healthy)) &&
    loadBalancers.every((lb) => lb.error === undefined && lb.servers.every((s) => s.up));
  const health: Health =
    allHealthy && site.every((s) => s.ok)
      ? 'healthy'
      : site.some((s) => s.ok)
        ? 'degraded'
        : 'failed';
  return {
    lab: ctx.model.lab.name,
    domain: ctx.model.domain,
    health,
    hosts,
    loadBalancers,
    virtualAddresses,
    site,
    releases,
    ...(monitoring === undefined ? {} : { monitoring }),
  };
}

export const EXIT_CODES: Readonly<Record<Health, number>> = { healthy: 0, degraded: 1, failed: 2 };
