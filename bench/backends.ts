/**
 * What TLS from the load balancers to the web servers costs: two bare HAProxys on one load
 * balancer, one reaching Nginx over TLS as ours does, the other in clear text on a port the bench
 * opens on each web server's core address for the comparison only (the site itself never serves
 * plain HTTP on the core network). A third one shows what `http-reuse always` saves on new
 * visitors' connections against HAProxy's default (`safe`: a visit's first request opens its own
 * connection to the web server, and so its own TLS handshake).
 */
import { addressOf, hostsWithRole, type Host } from '../src/model/model.ts';
import type { Context } from '../src/steps/context.ts';
import { ensureDaemon } from '../src/steps/daemon.ts';
import { nginxDaemon } from '../src/steps/services.ts';
import { liveSlot } from '../src/steps/slots.ts';
import { acceptTcpPort, startBareHaproxy, type Bare } from './bare.ts';

/** The clear-text port the bench opens on the web servers' core addresses (8080 beside 80). */
const PLAIN_PORT_OFFSET = 8000;

/** A web server's Nginx as up renders it, plus a clear-text listener on its core address. */
async function nginxWithPlainListener(ctx: Context, web: Host, port: number, plain: boolean) {
  const daemon = nginxDaemon(ctx, web, await liveSlot(ctx, web.name));
  if (!plain) return daemon;
  const loopback = `listen 127.0.0.1:${ctx.model.ports.http} `;
  return {
    ...daemon,
    files: daemon.files.map((file) => ({
      ...file,
      content: file.content.replace(
        loopback,
        `listen ${addressOf(web, 'core')}:${port} backlog=4096;\n        ${loopback}`,
      ),
    })),
  };
}

export interface BackendBares {
  readonly tls: Bare;
  readonly plain: Bare;
  readonly safe: Bare;
  /** Stops the three and puts every web server's Nginx back as up renders it. */
  readonly stop: () => Promise<void>;
}

/** Starts the three bare HAProxys on `lb`, and the plain listener they need on every web server. */
export async function startBackendBares(ctx: Context, lb: Host): Promise<BackendBares> {
  const port = ctx.model.ports.http + PLAIN_PORT_OFFSET;
  const webs = hostsWithRole(ctx.model, 'web');
  for (const web of webs) {
    await ctx.driver.exec(web.name, acceptTcpPort('input', port));
    await ensureDaemon(ctx, await nginxWithPlainListener(ctx, web, port, true));
  }
  await ctx.driver.exec(lb.name, acceptTcpPort('output', port));
  const tls = await startBareHaproxy(ctx, lb, { name: 'bare-tls', offset: 8002 });
  const plain = await startBareHaproxy(ctx, lb, {
    name: 'bare-plain',
    offset: 8003,
    backends: { kind: 'plain', port },
  });
  const safe = await startBareHaproxy(ctx, lb, {
    name: 'bare-safe',
    offset: 8004,
    backends: { kind: 'tls', reuse: 'safe' },
  });
  return {
    tls,
    plain,
    safe,
    stop: async () => {
      for (const bare of [tls, plain, safe]) await bare.stop();
      for (const web of webs)
        await ensureDaemon(ctx, await nginxWithPlainListener(ctx, web, port, false));
    },
  };
}
