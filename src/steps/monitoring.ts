/**
 * Monitoring: an exporter beside each daemon worth watching, and on the monitoring host
 * Prometheus, Alertmanager and the dashboard. Every one is a Daemon like the others, started,
 * tracked and stopped the same way.
 */
import path from 'node:path';
import {
  alertmanager,
  blackboxExporter,
  dashboard,
  MONITORING_USER,
  mysqldExporter,
  nginxExporter,
  nodeExporter,
  prometheus,
  promtool,
} from '../commands/monitoring.ts';
import { files as fileCommands } from '../commands/files.ts';
import { parseCurlOutput } from '../commands/curl.ts';
import { firewallCountsStarted, nft, parseCountsFile } from '../commands/nft.ts';
import { buildDashboard } from '../dashboard/build.ts';
import { waitFor } from '../lib/wait.ts';
import { DB_USERS, dbSecretName } from '../model/database.ts';
import { APP_USER, hostPaths, labPaths, runtimeOf } from '../model/layout.ts';
import type { Host, PortName } from '../model/model.ts';
import type { Command } from '../drivers/driver.ts';
import {
  jobsOn,
  monitorHost,
  firewallCountsIntervalSeconds,
  firewallCountsStaleSeconds,
  scrapeAddress,
  scrapedAs,
  scrapeServerName,
} from '../model/monitoring.ts';
import { transitFiles, trustedCa } from '../model/transit.ts';
import { expectStatus, verifiedHttps } from '../probes/http.ts';
import { prometheusAlertRules, prometheusTargets } from '../probes/prometheus.ts';
import { alertmanagerFiles, renderAlertmanagerConfig } from '../render/alertmanager/index.ts';
import { blackboxFiles, renderBlackboxConfig } from '../render/blackbox/index.ts';
import { dashboardFiles, renderDashboardConfig } from '../render/dashboard/index.ts';
import { exporterWebConfigFile, renderExporterWebConfig } from '../render/exporters/index.ts';
import { mariadbFiles, renderAdminClientConfig } from '../render/mariadb/index.ts';
import { NGINX_STATUS_PATH } from '../render/nginx/index.ts';
import { FIREWALL_TABLE } from '../render/nftables/index.ts';
import {
  prometheusFiles,
  renderPrometheusConfig,
  type PrometheusConfigOptions,
} from '../render/prometheus/index.ts';
import { alertGroups, renderPrometheusRules } from '../render/prometheus/rules.ts';
import { DAEMON_ENV, DAEMON_V8_FLAGS } from '../release/daemons.ts';
import { MANIFEST_FILE, parseManifest } from '../release/manifest.ts';
import type { BuiltRelease } from '../release/build.ts';
import type { Context } from './context.ts';
import {
  describeOutcomes,
  ensureDaemon,
  GO_DAEMON_ENV,
  logOwnedBy,
  once,
  runningPid,
  writeFiles,
  type Daemon,
  type DaemonOutcome,
  type RenderedFile,
} from './daemon.ts';
import type { Task } from './plan.ts';
import { installTree } from './release.ts';

const MONITORING_OWNER = `${MONITORING_USER}:${MONITORING_USER}`;

/** The data directory belongs to the unprivileged user the daemon runs as. */
const ownData =
  (host: string, dir: string) =>
  async (ctx: Context): Promise<void> => {
    await ctx.driver.mkdir(host, dir);
    await ctx.driver.exec(host, fileCommands.chownTree(MONITORING_OWNER, dir));
  };

/**
 * The health probe of a metrics endpoint the monitor scrapes: over TLS, verified by the host's
 * name against the lab CA as Prometheus verifies it.
 */
export function scrapedProbe(
  host: Host,
  port: PortName,
  pathAndQuery = '/',
): (ctx: Context) => Promise<string | undefined> {
  return (c) => {
    const ca = trustedCa(hostPaths(c.model, host.name));
    const address = `${scrapeAddress(host)}:${c.model.ports[port]}`;
    const https = verifiedHttps(ca, scrapeServerName(c.model, host), address, pathAndQuery);
    return expectStatus(c.driver, host.name, https.url, 200, https.options);
  };
}

/**
 * An exporter on a host: it listens on the address the monitor scrapes, on its port of the model,
 * over TLS only (the host's exporters' certificate), and writes nothing but its log.
 */
function exporterDaemon(
  ctx: Context,
  host: Host,
  spec: {
    readonly service: string;
    readonly port: PortName;
    readonly start: (listen: string) => Command;
    /** What only our instance has on its command line (default: its listen address). */
    readonly marker?: (listen: string) => string;
    readonly prepare?: Daemon['prepare'];
    /** Its files, rendered when first read (see `once`). */
    readonly files?: () => Daemon['files'];
    /** Directories it needs besides its host's etc, run and log ones. */
    readonly dirs?: readonly string[];
  },
): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const listen = `${scrapeAddress(host)}:${ctx.model.ports[spec.port]}`;
  const start = spec.start(listen);
  const rendered = once(spec.files ?? (() => []));
  return {
    service: spec.service,
    host: host.name,
    pidFile: path.join(paths.run, `${spec.service}.pid`),
    marker: spec.marker?.(listen) ?? listen,
    get files() {
      return rendered();
    },
    dirs: [paths.etc, paths.run, paths.log, ...(spec.dirs ?? [])],
    ...(spec.prepare === undefined ? {} : { prepare: spec.prepare }),
    start,
    user: MONITORING_USER,
    env: GO_DAEMON_ENV,
    outputLog: path.join(paths.log, `${spec.service}.log`),
    stopSignal: 'TERM',
    ports: [ctx.model.ports[spec.port]],
    probe: scrapedProbe(host, spec.port),
    ...scrapedAs(spec.port),
    logs: [],
  };
}

/** The exporter-toolkit web config (TLS) of a host's node and mysqld exporters. */
function webConfig(
  ctx: Context,
  host: Host,
  service: string,
): { path: string; files: () => RenderedFile[] } {
  const paths = hostPaths(ctx.model, host.name);
  const file = exporterWebConfigFile(paths, service);
  return { path: file, files: () => [{ path: file, content: renderExporterWebConfig(paths) }] };
}

/** Metrics files the host's node exporter serves beside its own (textfile collector). */
export function textfilesDir(ctx: Context, host: Host): string {
  return path.join(hostPaths(ctx.model, host.name).run, 'textfiles');
}

export function nodeExporterDaemon(ctx: Context, host: Host): Daemon {
  const web = webConfig(ctx, host, 'node-exporter');
  return exporterDaemon(ctx, host, {
    service: 'node-exporter',
    port: 'nodeExporter',
    files: web.files,
    dirs: [textfilesDir(ctx, host)],
    start: (listen) => nodeExporter.start(listen, web.path, textfilesDir(ctx, host)),
  });
}

/** The file the firewall's counts go to, for the node exporter to serve. */
export function firewallCountsFile(ctx: Context, host: Host): string {
  return path.join(textfilesDir(ctx, host), 'firewall.prom');
}

/**
 * The host firewall's counters (input dropped, output refused) as metrics: a shell loop, as root
 * (nft needs it), that reads them every 20 s (firewallCountsIntervalSeconds) into the node
 * exporter's textfile directory. Prometheus then keeps their history and alerts on a host that keeps sending what no
 * flow allows (render/prometheus/rules.ts), which `foobar status` could only show at one moment.
 */
export function firewallCountsDaemon(ctx: Context, host: Host): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const file = firewallCountsFile(ctx, host);
  const interval = firewallCountsIntervalSeconds(ctx.model);
  return {
    service: 'firewall-counts',
    host: host.name,
    pidFile: path.join(paths.run, 'firewall-counts.pid'),
    marker: file,
    files: [],
    dirs: [paths.run, paths.log, textfilesDir(ctx, host)],
    start: nft.countersToTextfile(FIREWALL_TABLE.family, FIREWALL_TABLE.name, file, interval),
    // Its time of reading starts at its start: a writer that never reads goes stale.
    prepare: async (c) => {
      await c.driver.writeFile(
        host.name,
        file,
        firewallCountsStarted(Math.floor(Date.now() / 1000)),
      );
    },
    outputLog: path.join(paths.log, 'firewall-counts.log'),
    stopSignal: 'TERM',
    // Alive and reading: the counts are at most a few intervals old.
    probe: async (c) => {
      const text = await c.driver.readFile(host.name, file);
      if (text === undefined) return 'no counts written yet';
      const { at } = parseCountsFile(text);
      if (at === undefined) return `${file} has no time of reading`;
      const age = Date.now() / 1000 - at;
      return age <= firewallCountsStaleSeconds(c.model)
        ? undefined
        : `counts last read ${Math.round(age)} s ago`;
    },
    logs: [],
  };
}

export function nginxExporterDaemon(ctx: Context, host: Host): Daemon {
  const tls = transitFiles(hostPaths(ctx.model, host.name), 'exporters');
  return exporterDaemon(ctx, host, {
    service: 'nginx-exporter',
    port: 'nginxExporter',
    start: (listen) =>
      nginxExporter.start(
        listen,
        `http://127.0.0.1:${ctx.model.ports.http}${NGINX_STATUS_PATH}`,
        tls,
      ),
  });
}

/** The exporter's login to MariaDB (0600, its own): the monitor account, over the socket. */
export function mysqldExporterLogin(ctx: Context, host: Host): string {
  return path.join(hostPaths(ctx.model, host.name).etc, 'mysqld-exporter.cnf');
}

export function mysqldExporterDaemon(ctx: Context, host: Host): Daemon {
  const login = mysqldExporterLogin(ctx, host);
  const web = webConfig(ctx, host, 'mysqld-exporter');
  return exporterDaemon(ctx, host, {
    service: 'mysqld-exporter',
    port: 'mysqldExporter',
    files: web.files,
    start: (listen) => mysqldExporter.start(listen, login, web.path),
    marker: () => `--config.my-cnf=${login}`,
    // The login holds a password: written before each start, never rendered (foobar render).
    prepare: async (c) => {
      const password = await c.secrets.get(dbSecretName('monitor'));
      const socket = mariadbFiles(hostPaths(c.model, host.name)).socket;
      await c.driver.writeFile(
        host.name,
        login,
        renderAdminClientConfig(DB_USERS.monitor, password, socket),
        0o600,
      );
      await c.driver.exec(host.name, fileCommands.chown(MONITORING_OWNER, login));
    },
  });
}

/** Prometheus; with `rules: false`, scraping only (render/prometheus: up's early start). */
export function prometheusDaemon(
  ctx: Context,
  host: Host,
  options: PrometheusConfigOptions = {},
): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = prometheusFiles(paths);
  const listen = `127.0.0.1:${ctx.model.ports.prometheus}`;
  const rendered = once(() => [
    { path: files.config, content: renderPrometheusConfig(ctx.model, host, paths, options) },
    { path: files.rules, content: renderPrometheusRules(ctx.model) },
  ]);
  return {
    service: 'prometheus',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    get files() {
      return rendered();
    },
    dirs: [paths.etc, paths.run, paths.log],
    prepare: ownData(host.name, files.data),
    checks: [promtool.checkConfig(files.config)],
    start: prometheus.start({
      config: files.config,
      data: files.data,
      listen,
      retentionHours: ctx.model.monitoring.retentionHours,
    }),
    user: MONITORING_USER,
    env: GO_DAEMON_ENV,
    outputLog: files.log,
    // A config change is reloaded through its lifecycle API, which answers once it is in force:
    // the scrapes of unchanged jobs go on, and a restart's wait for the first scrapes is saved.
    reload: async (c) => {
      const result = await c.driver.exec(host.name, prometheus.reload(listen), { check: false });
      const answer = parseCurlOutput(result.stdout);
      if (result.exitCode !== 0 || answer.status !== 200)
        throw new Error(
          `${host.name}: Prometheus did not reload its config: ${answer.status === 0 ? result.stderr.trim() : `${answer.status} ${answer.body.trim()}`}`,
        );
    },
    stopSignal: 'TERM',
    ports: [ctx.model.ports.prometheus],
    ...scrapedAs('prometheus'),
    probe: (c) => expectStatus(c.driver, host.name, `http://${listen}/-/ready`),
    logs: [],
    startTimeoutMs: 30_000,
  };
}

export function alertmanagerDaemon(ctx: Context, host: Host): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = alertmanagerFiles(paths);
  const listen = `127.0.0.1:${ctx.model.ports.alertmanager}`;
  const rendered = once(() => [
    { path: files.config, content: renderAlertmanagerConfig(ctx.model, host) },
  ]);
  return {
    service: 'alertmanager',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    get files() {
      return rendered();
    },
    dirs: [paths.etc, paths.run, paths.log],
    prepare: ownData(host.name, files.data),
    checks: [alertmanager.check(files.config)],
    start: alertmanager.start({ config: files.config, data: files.data, listen }),
    user: MONITORING_USER,
    env: GO_DAEMON_ENV,
    outputLog: files.log,
    stopSignal: 'TERM',
    ports: [ctx.model.ports.alertmanager],
    ...scrapedAs('alertmanager'),
    probe: (c) => expectStatus(c.driver, host.name, `http://${listen}/-/ready`),
    logs: [],
  };
}

/** The monitor's copy of the site's authorities (labPaths().siteTrust), updated when it changed. */
export async function copySiteTrust(ctx: Context, host: Host): Promise<void> {
  const trust = labPaths(ctx.model).siteTrust;
  const pem = await ctx.driver.readFile(null, trust);
  if (pem === undefined)
    throw new Error(
      `${trust} is missing: foobar up makes it with the lab's CA, before the monitoring`,
    );
  await writeFiles(ctx, host.name, [
    { path: blackboxFiles(hostPaths(ctx.model, host.name)).ca, content: pem },
  ]);
}

export function blackboxDaemon(ctx: Context, host: Host): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = blackboxFiles(paths);
  const listen = `127.0.0.1:${ctx.model.ports.blackboxExporter}`;
  const rendered = once(() => [
    { path: files.config, content: renderBlackboxConfig(ctx.model, host, paths) },
  ]);
  return {
    service: 'blackbox-exporter',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    get files() {
      return rendered();
    },
    dirs: [paths.etc, paths.run, paths.log],
    // The site's authorities (the lab's CA, and the ACME CA's roots) go with the monitor, as they
    // would to a real one. Probes read the file each time: `up` updates it without a restart.
    prepare: (c) => copySiteTrust(c, host),
    checks: [blackboxExporter.check(files.config)],
    start: blackboxExporter.start(files.config, listen),
    user: MONITORING_USER,
    env: GO_DAEMON_ENV,
    outputLog: files.log,
    stopSignal: 'TERM',
    ports: [ctx.model.ports.blackboxExporter],
    ...scrapedAs('blackboxExporter'),
    probe: (c) => expectStatus(c.driver, host.name, `http://${listen}/-/healthy`),
    logs: [],
  };
}

/** The id of the dashboard build installed on the monitoring host, if any. */
export async function installedDashboard(ctx: Context, host: Host): Promise<string | undefined> {
  const dir = dashboardFiles(hostPaths(ctx.model, host.name)).dir;
  const text = await ctx.driver.readFile(host.name, path.join(dir, MANIFEST_FILE));
  if (text === undefined) return undefined;
  try {
    return parseManifest(text).id;
  } catch {
    return undefined;
  }
}

export function dashboardDaemon(ctx: Context, host: Host, build: string): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = dashboardFiles(paths);
  const rendered = once(() => [
    { path: files.config, content: renderDashboardConfig(ctx.model, host, paths, build) },
  ]);
  return {
    service: 'dashboard',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    // The build's id is in it: a new build restarts the server.
    get files() {
      return rendered();
    },
    dirs: [paths.etc, paths.run, paths.log],
    // It runs unprivileged and may write the alert log, nothing else of ours.
    prepare: logOwnedBy(host.name, files.alertLog, APP_USER),
    // A long-running daemon of ours, with their small heap.
    start: dashboard.start(runtimeOf(ctx.model), DAEMON_V8_FLAGS, files.dir, files.config),
    env: DAEMON_ENV,
    user: APP_USER,
    unit: 'foobar-dashboard.service',
    outputLog: files.log,
    stopSignal: 'TERM',
    ports: [ctx.model.ports.dashboard],
    probe: (c) =>
      expectStatus(c.driver, host.name, `http://127.0.0.1:${c.model.ports.dashboard}/healthz`),
    logs: [files.alertLog],
  };
}

/** The exporters of a host, by its roles. */
export function exporterDaemons(ctx: Context, host: Host): Daemon[] {
  const jobs = new Set(jobsOn(host).map((job) => job.job));
  return [
    ...(jobs.has('nginx') ? [nginxExporterDaemon(ctx, host)] : []),
    ...(jobs.has('mysqld') ? [mysqldExporterDaemon(ctx, host)] : []),
    ...(jobs.has('node') ? [nodeExporterDaemon(ctx, host), firewallCountsDaemon(ctx, host)] : []),
  ];
}

/** Prometheus, Alertmanager and the dashboard, on the monitoring host. */
export async function monitorDaemons(ctx: Context, host: Host): Promise<Daemon[]> {
  if (!host.roles.includes('mon')) return [];
  const build = (await installedDashboard(ctx, host)) ?? 'none';
  return [
    prometheusDaemon(ctx, host),
    alertmanagerDaemon(ctx, host),
    blackboxDaemon(ctx, host),
    dashboardDaemon(ctx, host, build),
  ];
}

export interface MonitoringOptions {
  /** Where to build the dashboard (default: the lab's builds directory). */
  readonly buildsDir?: string;
}

/**
 * Prometheus as soon as its config can be written (after the Network and the certificates behind
 * the edge), scraping only: Prometheus 2.42 scrapes for the first time at least 5 s after a
 * start, so that wait passes while the rest of the site comes up, and it alerts on nothing it sees
 * starting. The Monitoring phase adds its alert rules. One already running is left to that phase.
 */
export function earlyPrometheusTasks(ctx: Context): Task[] {
  const mon = monitorHost(ctx.model);
  if (mon === undefined) return [];
  return [
    {
      title: `${mon.name}: Prometheus, scraping (its alert rules once every daemon runs)`,
      run: async () => {
        const daemon = prometheusDaemon(ctx, mon, { rules: false });
        // `up --plan` plans Prometheus once, as the Monitoring phase leaves it.
        if (ctx.planning !== undefined || (await runningPid(ctx, daemon)) !== undefined)
          return 'up to date';
        return describeOutcomes({ prometheus: await ensureDaemon(ctx, daemon) });
      },
    },
  ];
}

/**
 * Starts every exporter, and the monitor's own daemons with Prometheus' alert rules; then
 * (`monitoringChecks`, up's last phase) waits until every target is up.
 */
export function monitoringTasks(ctx: Context, options: MonitoringOptions = {}): Task[] {
  const mon = monitorHost(ctx.model);
  if (mon === undefined) return [];
  const exporters = ctx.model.hosts.filter((host) => exporterDaemons(ctx, host).length > 0);
  let built: Promise<BuiltRelease> | undefined;
  const build = (): Promise<BuiltRelease> =>
    (built ??= buildDashboard(
      path.join(options.buildsDir ?? labPaths(ctx.model).builds, 'dashboard'),
    ));
  const ensureAll = async (
    daemons: readonly { name: string; ensure: () => Promise<DaemonOutcome> }[],
  ): Promise<Record<string, string>> => {
    const outcomes = await Promise.all(daemons.map((d) => d.ensure()));
    return Object.fromEntries(daemons.map((d, i) => [d.name, outcomes[i] ?? 'running']));
  };
  return [
    ...exporters.map((host) => ({
      title: `${host.name} exporters`,
      run: async () =>
        describeOutcomes(
          await ensureAll(
            exporterDaemons(ctx, host).map((daemon) => ({
              name: daemon.service,
              ensure: () => ensureDaemon(ctx, daemon),
            })),
          ),
        ),
    })),
    {
      title: `${mon.name}: Prometheus, Alertmanager, blackbox exporter, dashboard`,
      run: async () => {
        const dashboardBuild = await build();
        const dir = dashboardFiles(hostPaths(ctx.model, mon.name)).dir;
        const installed = await installTree(ctx, mon.name, dashboardBuild, dir);
        const outcomes: Record<string, string> = {};
        if (installed === 'copied') outcomes[`dashboard ${dashboardBuild.id}`] = 'installed';
        // Each on its own: none needs another to start.
        Object.assign(
          outcomes,
          await ensureAll([
            { name: 'prometheus', ensure: () => ensureDaemon(ctx, prometheusDaemon(ctx, mon)) },
            {
              name: 'alertmanager',
              ensure: () => ensureDaemon(ctx, alertmanagerDaemon(ctx, mon)),
            },
            {
              name: 'blackbox exporter',
              ensure: async () => {
                await copySiteTrust(ctx, mon);
                return ensureDaemon(ctx, blackboxDaemon(ctx, mon));
              },
            },
            {
              name: 'dashboard',
              ensure: () => ensureDaemon(ctx, dashboardDaemon(ctx, mon, dashboardBuild.id)),
            },
          ]),
        );
        return describeOutcomes(outcomes);
      },
    },
  ];
}

/** What the monitor must see before `up` calls the site healthy: every target up, its rules in force. */
export function monitoringChecks(ctx: Context): Task[] {
  if (monitorHost(ctx.model) === undefined) return [];
  const rules = alertGroups(ctx.model).reduce((sum, group) => sum + group.rules.length, 0);
  return [
    {
      title: 'every Prometheus target up',
      run: async () => {
        let count = 0;
        await waitFor(
          'Prometheus targets',
          async () => {
            const targets = await prometheusTargets(ctx);
            if ('error' in targets) return targets.error;
            count = targets.length;
            const down = targets.filter((t) => !t.up);
            if (targets.length === 0) return 'no targets yet';
            return down.length === 0
              ? undefined
              : `down: ${down.map((t) => `${t.job} on ${t.host}${t.lastError === '' ? '' : ` (${t.lastError})`}`).join(', ')}`;
          },
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        return `all up (${count} targets)`;
      },
    },
    {
      title: 'Prometheus evaluates its alert rules',
      run: async () => {
        const loaded = await prometheusAlertRules(ctx);
        if (typeof loaded !== 'number') throw new Error(loaded.error);
        if (loaded !== rules)
          throw new Error(
            `Prometheus evaluates ${loaded} alert rules, not the ${rules} of its rule file`,
          );
        return `all evaluated (${loaded} rules)`;
      },
    },
  ];
}
