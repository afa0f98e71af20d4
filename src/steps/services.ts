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
import { files as fileCommands } from '../commands/files.ts';
import { APP_USER, hostPaths, labPaths } from '../model/layout.ts';
import { addressOf, hostsWithRole, type Host } from '../model/model.ts';
import { expectStatus } from '../probes/http.ts';
import { NSD_USER, nsdFiles, renderNsdConfig, renderZone } from '../render/dns/index.ts';
import { haproxyFiles, renderHaproxyConfig } from '../render/haproxy/index.ts';
import { NGINX_HEALTH_PATH, nginxFiles, renderNginxConfig } from '../render/nginx/index.ts';
import type { Context } from './context.ts';
import type { Daemon } from './daemon.ts';
import { liveRelease } from './release.ts';

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
      ...(certificate === undefined
        ? []
        : [{ path: files.certificate, content: certificate, mode: 0o600 }]),
    ],
    dirs: [paths.etc, paths.run, paths.log],
    checks: [haproxy.check(files.config)],
    start: haproxy.start(files.config, files.pid),
    outputLog: files.log,
    reloadSignal: 'USR2',
    stopSignal: 'TERM',
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

export function nginxDaemon(ctx: Context, host: Host): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = nginxFiles(paths);
  return {
    service: 'nginx',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    files: [{ path: files.config, content: renderNginxConfig(ctx.model, host, paths) }],
    dirs: [paths.etc, paths.run, paths.log, files.temp],
    checks: [nginx.check(files)],
    start: nginx.start(files),
    outputLog: files.errorLog,
    reloadSignal: 'HUP',
    stopSignal: 'QUIT',
    probe: (c) =>
      expectStatus(
        c.driver,
        host.name,
        `http://127.0.0.1:${c.model.ports.http}${NGINX_HEALTH_PATH}`,
      ),
    logs: [files.accessLog],
  };
}

export function appFiles(
  ctx: Context,
  host: string,
): { pid: string; log: string; output: string; env: string } {
  const paths = hostPaths(ctx.model, host);
  return {
    pid: path.join(paths.run, 'app.pid'),
    log: path.join(paths.log, 'app.log'),
    output: path.join(paths.log, 'app.out.log'),
    env: path.join(paths.etc, 'app.env'),
  };
}

/** The app's settings, as the environment of its process. */
export function appEnvironment(ctx: Context, host: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    FOOBAR_SERVER: host,
    FOOBAR_APP_HOST: '127.0.0.1',
    FOOBAR_APP_PORT: String(ctx.model.ports.app),
    FOOBAR_KEEPALIVE_SECONDS: String(ctx.model.app.keepAliveTimeoutSeconds),
    // X-Forwarded-For is believed from Nginx here and from the load balancers only.
    FOOBAR_TRUST_PROXY: [
      '127.0.0.1',
      ...hostsWithRole(ctx.model, 'lb').map((lb) => addressOf(lb, 'core')),
    ].join(','),
    FOOBAR_LOG_FILE: appFiles(ctx, host).log,
  };
}

/**
 * The app of one release on a web server. Its marker is the host's releases directory, so any
 * release's process on this host counts as the app.
 */
export function appDaemon(ctx: Context, host: Host, release: string): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = appFiles(ctx, host.name);
  const env = appEnvironment(ctx, host.name);
  const envText = Object.entries(env)
    .map(([key, value]) => `${key}=${value}\n`)
    .join('');
  return {
    service: 'app',
    host: host.name,
    pidFile: files.pid,
    marker: `${paths.releases}/`,
    // Written so a change of settings restarts the app; the process reads its environment.
    files: [{ path: files.env, content: envText }],
    dirs: [paths.etc, paths.run, paths.log],
    // The app runs unprivileged: it may write its own log and nothing else of ours.
    prepare: async (c) => {
      if ((await c.driver.readFile(host.name, files.log)) === undefined) {
        await c.driver.writeFile(host.name, files.log, '', 0o640);
      }
      await c.driver.exec(host.name, fileCommands.chown(`${APP_USER}:${APP_USER}`, files.log));
    },
    start: app.start(labPaths(ctx.model).runtime, path.join(paths.releases, release), APP_USER),
    outputLog: files.output,
    env,
    stopSignal: 'TERM',
    probe: (c) => expectStatus(c.driver, host.name, `http://127.0.0.1:${c.model.ports.app}/readyz`),
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

/** The daemons of a host, front to back (the order to stop them in). */
export async function daemonsOf(ctx: Context, host: Host): Promise<Daemon[]> {
  const daemons: Daemon[] = [];
  if (host.roles.includes('dns')) daemons.push(nsdDaemon(ctx, host));
  if (host.roles.includes('lb')) daemons.push(haproxyDaemon(ctx, host));
  if (host.roles.includes('web')) {
    daemons.push(nginxDaemon(ctx, host));
    daemons.push(appDaemon(ctx, host, (await liveRelease(ctx, host.name)) ?? 'none'));
  }
  return daemons;
}
