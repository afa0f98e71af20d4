/**
 * Which daemons run on which host, derived from its roles. up, down, status and logs all read this
 * one list, so a new service is added here once.
 */
import path from 'node:path';
import { haproxy } from '../commands/haproxy.ts';
import { nginx } from '../commands/nginx.ts';
import { app } from '../commands/app.ts';
import { dig, parseDigHeader } from '../commands/dig.ts';
import { nsd } from '../commands/nsd.ts';
import { ip } from '../commands/ip.ts';
import { keepalived } from '../commands/keepalived.ts';
import { files as fileCommands } from '../commands/files.ts';
import { mariadb } from '../commands/mariadb.ts';
import { DAEMON_ENV } from '../release/daemons.ts';
import { APP_USER, hostPaths, runtimeOf } from '../model/layout.ts';
import { addressOf, hostsWithRole, type Host } from '../model/model.ts';
import { expectStatus } from '../probes/http.ts';
import { pingServer } from '../probes/mariadb.ts';
import { NSD_USER, nsdFiles, renderNsdConfig, renderZone } from '../render/dns/index.ts';
import { haproxyFiles, renderChallengeMap, renderHaproxyConfig } from '../render/haproxy/index.ts';
import { keepalivedFiles, renderKeepalivedConfig } from '../render/keepalived/index.ts';
import { childPids } from '../probes/process.ts';
import { VRRP_NETWORK, virtualAddressesOn } from '../probes/vrrp.ts';
import { mariadbFiles, renderMariadbConfig } from '../render/mariadb/index.ts';
import { NGINX_HEALTH_PATH, nginxFiles, renderNginxConfig } from '../render/nginx/index.ts';
import type { Context } from './context.ts';
import { logOwnedBy, runningPid, type Daemon } from './daemon.ts';
import { prepareDataDir } from './db/server.ts';
import { readDbState, roleOf, type DbState } from './db/state.ts';
import { appDbFiles } from './db/topology.ts';
import { exporterDaemons, monitorDaemons } from './monitoring.ts';
import { failoverDaemons } from './failover.ts';
import { backupAgentDaemon, scratchDaemon } from './backup.ts';
import { liveRelease } from './release.ts';
import { liveSlot, otherSlot, slotPort, type Slot } from './slots.ts';
import { logDaemons } from './logs.ts';

/**
 * HAProxy on a load balancer. `certificate` (the site's certificate and key, PEM) is written beside
 * its config when given: `up` gives it; stopping and probing need no secret.
 */
export function haproxyDaemon(ctx: Context, host: Host, certificate?: string): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = haproxyFiles(paths);
  return {
    service: 'haproxy',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    files: [
      { path: files.config, content: renderHaproxyConfig(ctx.model, host, paths) },
      ...(ctx.model.tls.acme === undefined
        ? []
        : [{ path: files.challenges, content: renderChallengeMap() }]),
      ...(certificate === undefined
        ? []
        : [{ path: files.certificate, content: certificate, mode: 0o600 }]),
    ],
    dirs: [paths.etc, paths.run, paths.log],
    checks: [haproxy.check(files.config)],
    start: haproxy.start(files.config, files.masterPid),
    outputLog: files.log,
    reloadSignal: 'USR2',
    stopSignal: 'TERM',
    logsEachRequest: true,
    outputNonBlocking: true,
    ports: [ctx.model.ports.http, ctx.model.ports.lbStats],
    // 200 with a web server up, 503 without: either way HAProxy itself is serving.
    probe: (c) =>
      expectStatus(
        c.driver,
        host.name,
        `http://127.0.0.1:${c.model.ports.lbStats}/health`,
        [200, 503],
      ),
    logs: [],
  };
}

/**
 * Removes the virtual addresses a host has configured: a keepalived that crashed leaves them
 * (two hosts would then answer for one address). Run before keepalived starts and after it stops.
 */
export async function releaseVirtualAddresses(ctx: Context, host: Host): Promise<void> {
  const held = await virtualAddressesOn(ctx, host.name);
  if ('error' in held) return;
  const prefix = ctx.model.networks.edge.subnet.prefix;
  for (const vip of held) {
    await ctx.driver.exec(
      host.name,
      ip.addrDelete(null, VRRP_NETWORK, `${vip.address}/${prefix}`),
      { check: false },
    );
  }
}

/**
 * keepalived on a load balancer: holds the edge's virtual addresses with the other load
 * balancers (VRRP), giving them up when HAProxy here is unhealthy.
 */
export function keepalivedDaemon(ctx: Context, host: Host): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = keepalivedFiles(paths);
  const daemon: Daemon = {
    service: 'keepalived',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    files: [{ path: files.config, content: renderKeepalivedConfig(ctx.model, host) }],
    dirs: [paths.etc, paths.run, paths.log],
    prepare: async (c) => {
      await releaseVirtualAddresses(c, host);
      for (const file of [files.mainPid, files.vrrpPid]) await c.driver.remove(host.name, file);
    },
    afterStop: (c) => releaseVirtualAddresses(c, host),
    checks: [keepalived.check(files.config)],
    start: keepalived.start(files.config, { main: files.mainPid, vrrp: files.vrrpPid }),
    outputLog: files.log,
    // No reload signal: keepalived re-reads its config in place (no new process to wait for),
    // and a restart hands the addresses over and back within a few seconds, losing none.
    stopSignal: 'TERM',
    // Running means its VRRP process runs; who holds what is shown apart (status, up's health).
    probe: async (c) => {
      const pid = await runningPid(c, daemon);
      if (pid === undefined) return 'no pid';
      return (await childPids(c.driver, host.name, pid)).length > 0
        ? undefined
        : 'its VRRP process is not running';
    },
    logs: [],
  };
  return daemon;
}

/** Nginx on a web server, sending dynamic requests to the app in `slot`. */
export function nginxDaemon(ctx: Context, host: Host, slot: Slot): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = nginxFiles(paths);
  return {
    service: 'nginx',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    files: [
      {
        path: files.config,
        content: renderNginxConfig(ctx.model, host, paths, slotPort(ctx.model, slot)),
      },
    ],
    dirs: [paths.etc, paths.run, paths.log, files.temp],
    checks: [nginx.check(files)],
    start: nginx.start(files),
    outputLog: files.errorLog,
    reloadSignal: 'HUP',
    // A reload is over when the old workers are gone: only then is the old app slot unused.
    reloadDrains: true,
    stopSignal: 'QUIT',
    ports: [ctx.model.ports.http, ctx.model.ports.https],
    probe: (c) =>
      expectStatus(
        c.driver,
        host.name,
        `http://127.0.0.1:${c.model.ports.http}${NGINX_HEALTH_PATH}`,
      ),
    logs: [files.accessLog],
    reopenLogsSignal: 'USR1',
  };
}

export function appFiles(
  ctx: Context,
  host: string,
  slot: Slot,
): { pid: string; log: string; output: string; env: string } {
  const paths = hostPaths(ctx.model, host);
  return {
    pid: path.join(paths.run, `app-${slot}.pid`),
    // Both slots write one log: a deploy reads as one story.
    log: path.join(paths.log, 'app.log'),
    output: path.join(paths.log, 'app.out.log'),
    env: path.join(paths.etc, `app-${slot}.env`),
  };
}

/** The app's settings, as the environment of its process. */
export function appEnvironment(ctx: Context, host: string, slot: Slot): Record<string, string> {
  return {
    NODE_ENV: 'production',
    FOOBAR_SERVER: host,
    FOOBAR_APP_HOST: '127.0.0.1',
    FOOBAR_APP_PORT: String(slotPort(ctx.model, slot)),
    FOOBAR_KEEPALIVE_SECONDS: String(ctx.model.app.keepAliveTimeoutSeconds),
    // X-Forwarded-For is believed from Nginx here and from the load balancers only.
    FOOBAR_TRUST_PROXY: [
      '127.0.0.1',
      ...hostsWithRole(ctx.model, 'lb').map((lb) => addressOf(lb, 'core')),
    ].join(','),
    FOOBAR_LOG_FILE: appFiles(ctx, host, slot).log,
    FOOBAR_DB_TOPOLOGY: appDbFiles(ctx, host).topology,
    FOOBAR_DB_PASSWORD_FILE: appDbFiles(ctx, host).password,
    FOOBAR_DB_READ_WAIT_MS: String(ctx.model.database.readYourWritesWaitMs),
    // One malloc arena, large blocks given back, as foobar's own daemons (DAEMON_ENV): an app
    // after load 6–17 MB less private memory, its CPU a request unchanged (docs/decisions.md).
    ...DAEMON_ENV,
  };
}

/**
 * The app of one release in one slot of a web server. Its marker is the host's releases
 * directory (any release's process on this host is the app); the slot's pid file says which.
 */
export function appDaemon(ctx: Context, host: Host, slot: Slot, release: string): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = appFiles(ctx, host.name, slot);
  const env = appEnvironment(ctx, host.name, slot);
  const envText = Object.entries(env)
    .map(([key, value]) => `${key}=${value}\n`)
    .join('');
  const port = slotPort(ctx.model, slot);
  return {
    service: 'app',
    host: host.name,
    pidFile: files.pid,
    marker: `${paths.releases}/`,
    // Written so a change of settings restarts the app; the process reads its environment.
    files: [{ path: files.env, content: envText }],
    dirs: [paths.etc, paths.run, paths.log],
    // The app runs unprivileged: it may write its own log and nothing else of ours.
    prepare: logOwnedBy(host.name, files.log, APP_USER),
    start: app.start(runtimeOf(ctx.model), path.join(paths.releases, release)),
    user: APP_USER,
    unit: `foobar-app-${slot}.service`,
    outputLog: files.output,
    env,
    stopSignal: 'TERM',
    ports: [port],
    probe: (c) => expectStatus(c.driver, host.name, `http://127.0.0.1:${port}/readyz`),
    logs: [files.log],
  };
}

/** NSD on a dns host: the zone of the domain, from the model. */
export function nsdDaemon(ctx: Context, host: Host): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = nsdFiles(ctx.model, paths);
  const address = addressOf(host, 'edge');
  return {
    service: 'nsd',
    host: host.name,
    pidFile: path.join(paths.run, 'nsd.pid'),
    marker: files.config,
    files: [
      { path: files.config, content: renderNsdConfig(ctx.model, host, paths) },
      { path: files.zone, content: renderZone(ctx.model) },
    ],
    dirs: [paths.etc, paths.run, paths.log, files.state],
    prepare: async (c) => {
      await c.driver.exec(host.name, fileCommands.chown(`${NSD_USER}:${NSD_USER}`, files.state));
    },
    checks: [nsd.checkConfig(files.config), nsd.checkZone(ctx.model.domain, files.zone)],
    start: nsd.start(files.config),
    outputLog: files.output,
    // No reload signal: NSD's SIGHUP re-reads zone files but not nsd.conf, and a restart takes
    // a tenth of a second (resolvers retry).
    stopSignal: 'TERM',
    probe: async (c) => {
      const answer = await c.driver.exec(
        host.name,
        dig.query(address, c.model.domain, 'SOA', { port: c.model.ports.dns }),
        { check: false },
      );
      const { status, flags } = parseDigHeader(answer.stdout);
      if (status !== 'NOERROR') return `SOA ${c.model.domain} answered ${status ?? 'nothing'}`;
      return flags.includes('aa') ? undefined : `SOA ${c.model.domain} is not authoritative`;
    },
    logs: [files.log],
  };
}

/**
 * MariaDB on a database server. Whatever its role, it starts read-only and without replication
 * (my.cnf): foobar opens the primary for writes and points replicas at it. A server that is not
 * the primary starts with the replica role, so its crash recovery drops commits no replica had.
 */
export function mariadbDaemon(ctx: Context, host: Host, state: DbState): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = mariadbFiles(paths);
  const now = roleOf(state, host.name);
  const role = now === 'primary' || now === 'restored' ? now : 'replica';
  return {
    service: 'mariadb',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    files: [{ path: files.config, content: renderMariadbConfig(ctx.model, host, paths) }],
    dirs: [paths.etc, paths.run, paths.log, paths.data],
    ownedRunDirs: [{ path: files.runDir, owner: 'mysql' }],
    prepare: (c) => prepareDataDir(c, host.name, state.primary),
    checks: [mariadb.check(files.config)],
    start: mariadb.start(files.config, role),
    outputLog: files.log,
    // glibc gives each busy thread a malloc arena of its own (up to 8 per core): mariadbd's
    // threads held about 100 MB in them after a load. Two arenas are plenty for the lab's and
    // a small site's concurrency.
    env: { MALLOC_ARENA_MAX: '2' },
    stopSignal: 'TERM',
    // Debian's unit restarts a killed mariadbd after 5 s; it comes back read-only, so a killed
    // primary took no write, yet answered again before a busy manager had judged it dead and
    // nobody failed over. Its death is the managers' to act on (a replica's: `foobar up`).
    restartsOnCrash: false,
    probe: (c) => pingServer(c, host.name),
    logs: [],
    // Crash recovery of a big data directory takes a while.
    startTimeoutMs: 120_000,
  };
}

/** What serves a web server now: Nginx and the app in the live slot, with the live release. */
export async function webDaemons(
  ctx: Context,
  host: Host,
): Promise<{
  nginx: Daemon;
  app: Daemon;
  standby: Daemon;
  slot: Slot;
  release: string | undefined;
}> {
  const [slot, release] = await Promise.all([
    liveSlot(ctx, host.name),
    liveRelease(ctx, host.name),
  ]);
  return {
    slot,
    release,
    nginx: nginxDaemon(ctx, host, slot),
    app: appDaemon(ctx, host, slot, release ?? 'none'),
    standby: appDaemon(ctx, host, otherSlot(slot), 'none'),
  };
}

/**
 * The daemons of a host, front to back (as `down` lists them). `withStandby` adds a web
 * server's idle app slot, which only runs during a deploy, and the backup host's scratch server
 * of a restore (down stops them too).
 */
export async function daemonsOf(ctx: Context, host: Host, withStandby = false): Promise<Daemon[]> {
  return [...(await serviceDaemons(ctx, host, withStandby)), ...(await logDaemons(ctx, host))];
}

/** The daemons of a host but the log rotator, which is told their logs. */
export async function serviceDaemons(
  ctx: Context,
  host: Host,
  withStandby = false,
): Promise<Daemon[]> {
  // The failover manager first: nothing it watches stops while it could still act.
  const daemons: Daemon[] = [...failoverDaemons(ctx, host)];
  if (host.roles.includes('dns')) daemons.push(nsdDaemon(ctx, host));
  // keepalived first: a load balancer gives its addresses up before its HAProxy stops.
  if (host.roles.includes('lb'))
    daemons.push(keepalivedDaemon(ctx, host), haproxyDaemon(ctx, host));
  // What a web server's and a database server's daemons depend on, asked at once (round trips on
  // machines): its live slot and release, and the site's database state.
  const [web, dbState] = await Promise.all([
    host.roles.includes('web') ? webDaemons(ctx, host) : undefined,
    host.roles.includes('db') ? readDbState(ctx) : undefined,
  ]);
  if (web !== undefined) daemons.push(web.nginx, web.app, ...(withStandby ? [web.standby] : []));
  if (dbState !== undefined) daemons.push(mariadbDaemon(ctx, host, dbState));
  if (host.roles.includes('backup'))
    daemons.push(
      backupAgentDaemon(ctx, host),
      // A restore's scratch server runs only after a restore, until discarded (down stops it).
      ...(withStandby ? [scratchDaemon(ctx, host)] : []),
    );
  daemons.push(...(await monitorDaemons(ctx, host)), ...exporterDaemons(ctx, host));
  return daemons;
}
