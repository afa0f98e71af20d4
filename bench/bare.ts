/**
 * The bench's bare references: a HAProxy with nothing but TLS (the same certificate and TLS
 * profile as ours) and round-robin to the same web servers, run on the same load balancer beside
 * ours, so every figure of ours has its physical limit measured in the same run on the same host.
 * Started and stopped as foobar's own daemons are (pid file, config check, startup output).
 */
import path from 'node:path';
import { haproxy } from '../src/commands/haproxy.ts';
import { addressOf, hostsWithRole, type Host, type Model } from '../src/model/model.ts';
import { hostPaths } from '../src/model/layout.ts';
import { haproxyFiles, MOZILLA_INTERMEDIATE, webServer } from '../src/render/haproxy/index.ts';
import type { Command } from '../src/drivers/driver.ts';
import type { Context } from '../src/steps/context.ts';
import { ensureDaemon, stopDaemon, type Daemon } from '../src/steps/daemon.ts';

/** A bare HAProxy's port: ours + this (8443 beside 443), outside every flow of the model. */
const BARE_PORT_OFFSET = 8000;

export interface Bare {
  readonly port: number;
  /** Its master's pid file (bench/cpu.ts reads what its processes spend). */
  readonly pidFile: string;
  readonly stop: () => Promise<void>;
}

/**
 * How a bare HAProxy reaches the web servers' Nginx: over TLS as ours does (verified, the same
 * server lines, with an `http-reuse` strategy), or in clear text to a plain port the bench opens
 * on their core address for the comparison (`bench/backends.ts`).
 */
export type BareBackends =
  | { readonly kind: 'tls'; readonly reuse: 'safe' | 'aggressive' | 'always' }
  | { readonly kind: 'plain'; readonly port: number };

/** As ours: TLS to the web servers, idle connections shared between visitors. */
export const OUR_BACKENDS: BareBackends = { kind: 'tls', reuse: 'always' };

/**
 * A bare HAProxy's config: the certificate given (PEM, certificate and key), TLS as ours, and
 * round-robin to every web server's Nginx. No logs, health checks, retries, limits or headers.
 */
export function renderBareHaproxy(
  model: Model,
  lb: Host,
  certificate: string,
  port: number,
  backends: BareBackends = OUR_BACKENDS,
  tlsOptions: string = MOZILLA_INTERMEDIATE.options,
): string {
  const paths = hostPaths(model, lb.name);
  const servers = hostsWithRole(model, 'web').map((web) =>
    backends.kind === 'tls'
      ? `    server ${webServer(model, paths, web)}`
      : `    server ${web.name} ${addressOf(web, 'core')}:${backends.port}`,
  );
  return `# A bare HAProxy for the bench: TLS and round-robin, nothing else.
global
    maxconn 8000
    ssl-default-bind-curves ${MOZILLA_INTERMEDIATE.curves}
    ssl-default-bind-ciphers ${MOZILLA_INTERMEDIATE.ciphers}
    ssl-default-bind-ciphersuites ${MOZILLA_INTERMEDIATE.ciphersuites}
    ssl-default-bind-options ${tlsOptions}
    ssl-default-server-options ssl-min-ver TLSv1.3

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s

frontend bare
    bind :${port} ssl crt ${certificate} alpn h2,http/1.1
    default_backend web

backend web
    balance roundrobin
    http-reuse ${backends.kind === 'tls' ? backends.reuse : 'always'}
${servers.join('\n')}
`;
}

/** An accept rule inserted first in a host's firewall, for the bench's own ports. */
export function acceptTcpPort(chain: 'input' | 'output', port: number): Command {
  return {
    argv: [
      'nft',
      'insert',
      'rule',
      'inet',
      'foobar',
      chain,
      'tcp',
      'dport',
      String(port),
      'accept',
    ],
  };
}

/**
 * Starts a bare HAProxy on `lb` on its own port (ours + `offset`), with `certificate` (default:
 * the site's own, as ours serves it), and lets the edge reach that port through lb's firewall
 * (an accept rule inserted first; the bench's lab is torn down afterwards).
 */
export async function startBareHaproxy(
  ctx: Context,
  lb: Host,
  {
    name = 'bare',
    offset = BARE_PORT_OFFSET,
    certificate = '',
    backends = OUR_BACKENDS,
    tlsOptions = MOZILLA_INTERMEDIATE.options,
  }: {
    name?: string;
    offset?: number;
    certificate?: string;
    backends?: BareBackends;
    /** `ssl-default-bind-options` (default: Mozilla's intermediate, as ours). */
    tlsOptions?: string;
  } = {},
): Promise<Bare> {
  const port = ctx.model.ports.https + offset;
  const paths = hostPaths(ctx.model, lb.name);
  const dir = path.join(paths.etc, `haproxy-${name}`);
  const pem = certificate === '' ? haproxyFiles(paths).certificate : path.join(dir, 'site.pem');
  return startBenchHaproxy(ctx, lb, {
    name,
    port,
    config: renderBareHaproxy(ctx.model, lb, pem, port, backends, tlsOptions),
    files: certificate === '' ? [] : [{ path: pem, content: certificate, mode: 0o600 }],
  });
}

/**
 * A HAProxy of the bench's own on `lb`: `config` (which serves HTTPS on `port`) in a directory of
 * its own, started and stopped as foobar's daemons are (pid file, config check, startup output),
 * healthy once it answers 200 there; the edge may reach the port through lb's firewall (an accept
 * rule inserted first; the bench's lab is torn down afterwards).
 */
export async function startBenchHaproxy(
  ctx: Context,
  lb: Host,
  {
    name,
    port,
    config: content,
    files = [],
    wrap,
  }: {
    name: string;
    port: number;
    config: string;
    files?: Daemon['files'];
    /** A command HAProxy runs under (callgrind: bench/profile.ts); then without a master. */
    wrap?: readonly string[];
  },
): Promise<Bare> {
  const paths = hostPaths(ctx.model, lb.name);
  const dir = path.join(paths.etc, `haproxy-${name}`);
  const config = path.join(dir, 'haproxy.cfg');
  const daemon: Daemon = {
    service: `haproxy-${name}`,
    host: lb.name,
    pidFile: path.join(paths.run, `haproxy-${name}.pid`),
    marker: config,
    files: [{ path: config, content }, ...files],
    dirs: [dir, paths.run, paths.log],
    checks: [haproxy.check(config)],
    start: {
      argv:
        wrap === undefined
          ? ['haproxy', '-W', '-db', '-f', config]
          : [...wrap, 'haproxy', '-db', '-f', config],
    },
    // Under callgrind HAProxy starts some 50 times slower.
    ...(wrap === undefined ? {} : { startTimeoutMs: 120_000 }),
    outputLog: path.join(paths.log, `haproxy-${name}.log`),
    // As ours (steps/services.ts): a copy's access log goes through the same appender.
    outputNonBlocking: true,
    reloadSignal: 'USR2',
    stopSignal: 'TERM',
    ports: [port],
    probe: async (c) => {
      const result = await c.driver.exec(
        lb.name,
        {
          argv: [
            'curl',
            '-sk',
            '-o',
            '/dev/null',
            '-w',
            '%{http_code}',
            `https://127.0.0.1:${port}/`,
          ],
          timeoutMs: 5000,
        },
        { check: false },
      );
      return result.stdout === '200' ? undefined : `answered ${result.stdout || result.stderr}`;
    },
    logs: [],
  };
  await ctx.driver.exec(lb.name, acceptTcpPort('input', port));
  await ensureDaemon(ctx, daemon);
  return {
    port,
    pidFile: daemon.pidFile,
    stop: async () => {
      await stopDaemon(ctx, daemon);
    },
  };
}
