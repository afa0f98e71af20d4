/**
 * Taking a web server out of the load balancers' rotation and putting it back, through HAProxy's
 * runtime API on every load balancer.
 */
import { haproxy } from '../commands/haproxy.ts';
import { hostPaths } from '../model/layout.ts';
import { hostsWithRole } from '../model/model.ts';
import { backendServers } from '../probes/haproxy.ts';
import { HAPROXY_BACKEND, haproxyFiles } from '../render/haproxy/index.ts';
import { waitFor } from '../lib/wait.ts';
import type { Context } from './context.ts';

async function setState(
  ctx: Context,
  web: string,
  state: 'drain' | 'maint' | 'ready',
): Promise<void> {
  for (const lb of hostsWithRole(ctx.model, 'lb')) {
    const socket = haproxyFiles(hostPaths(ctx.model, lb.name)).socket;
    const result = await ctx.driver.exec(
      lb.name,
      haproxy.setServerState(socket, HAPROXY_BACKEND, web, state),
    );
    if (result.stdout.trim() !== '')
      throw new Error(`${lb.name}: set ${web} ${state}: ${result.stdout.trim()}`);
  }
}

/** Every load balancer stops sending new requests to `web`; resolves once none is in flight. */
export async function drain(ctx: Context, web: string): Promise<void> {
  await setState(ctx, web, 'drain');
  for (const lb of hostsWithRole(ctx.model, 'lb')) {
    await waitFor(
      `${lb.name} to finish requests on ${web}`,
      async () => {
        const servers = await backendServers(ctx, lb.name);
        if ('error' in servers) return servers.error;
        const sessions = servers.find((s) => s.name === web)?.sessions ?? 0;
        return sessions === 0 ? undefined : `${sessions} in flight`;
      },
      { timeoutMs: 10_000 },
    );
  }
}

/** Puts `web` back in every load balancer's rotation; resolves once each sees it UP. */
export async function restore(ctx: Context, web: string): Promise<void> {
  await setState(ctx, web, 'ready');
  for (const lb of hostsWithRole(ctx.model, 'lb')) {
    await waitFor(
      `${lb.name} to see ${web} up`,
      async () => {
        const servers = await backendServers(ctx, lb.name);
        if ('error' in servers) return servers.error;
        const status = servers.find((s) => s.name === web)?.status ?? 'missing';
        return status === 'UP' ? undefined : status;
      },
      { timeoutMs: 10_000 },
    );
  }
}

/**
 * Every load balancer takes `web` out of rotation at once and cuts what is open on it: a web
 * server that could not be told of a new primary answers no visitor until it has been (see
 * healUnreached), even once it is reachable again. Each load balancer at the same time; resolves
 * to the ones that could not do it (each with why), empty when all did.
 */
export async function outOfRotation(ctx: Context, web: string): Promise<string[]> {
  const lbs = hostsWithRole(ctx.model, 'lb');
  const results = await Promise.allSettled(
    lbs.map(async (lb) => {
      const socket = haproxyFiles(hostPaths(ctx.model, lb.name)).socket;
      for (const command of [
        haproxy.setServerState(socket, HAPROXY_BACKEND, web, 'maint'),
        haproxy.shutdownSessions(socket, HAPROXY_BACKEND, web),
      ]) {
        const result = await ctx.driver.exec(lb.name, command);
        if (result.stdout.trim() !== '') throw new Error(result.stdout.trim());
      }
    }),
  );
  return lbs.flatMap((lb, i) => {
    const result = results[i];
    return result?.status === 'rejected'
      ? [`${lb.name}: ${(result.reason as Error).message.split('\n')[0] ?? ''}`]
      : [];
  });
}

/** Puts `web` back in every load balancer's rotation; its health checks decide from there. */
export function intoRotation(ctx: Context, web: string): Promise<void> {
  return setState(ctx, web, 'ready');
}
