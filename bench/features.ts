/**
 * Where ours differs from the bare HAProxy: copies of our own HAProxy config on lb-01, beside
 * ours, each with one feature taken out (its lines removed from the config foobar renders), so
 * the bench measures what each feature costs against an exact copy of ours started the same way.
 * A copy serves HTTPS only, on a port of its own, with its own runtime socket and no stats
 * frontend (those are ours); everything else is ours line for line. (The health checks stay: the
 * writes' servers track them, and they cost a request every second or so, not one per visitor.)
 */
import path from 'node:path';
import { hostPaths } from '../src/model/layout.ts';
import type { Host, Model } from '../src/model/model.ts';
import { renderHaproxyConfig } from '../src/render/haproxy/index.ts';
import type { Context } from '../src/steps/context.ts';
import { startBenchHaproxy, type Bare } from './bare.ts';

/** A feature of our HAProxy config, by the lines that make it. */
export interface Feature {
  readonly name: string;
  readonly lines: readonly RegExp[];
}

export const FEATURES: readonly Feature[] = [
  {
    name: 'the access log',
    lines: [/^\s+log stdout /, /^\s+log global$/, /^\s+option httplog$/, /^\s+option dontlognull$/],
  },
  { name: 'the security headers', lines: [/^\s+http-after-response set-header /] },
  {
    name: 'the rate limit',
    lines: [
      /^\s+stick-table type ip /,
      /^\s+acl rate_exempt /,
      /^\s+http-request track-sc0 /,
      /^\s+http-request deny deny_status 429 /,
    ],
  },
  {
    name: 'the request checks and rewrites',
    lines: [
      /^\s+option forwardfor$/,
      /^\s+http-request redirect scheme https /,
      /^\s+http-request return status 414 /,
      /^\s+http-request (del|set)-header X-Forwarded-/,
    ],
  },
  {
    // A GET that failed on one web server (no answer, a timeout, a 5xx) is sent to another: for
    // that HAProxy keeps a copy of every request's buffer (callgrind: 33k more instructions a
    // request, nearly all in memcpy). Without the line a failed connection is still retried.
    name: 'the retries of failed GETs',
    lines: [/^\s+retry-on all-retryable-errors /],
  },
];

/**
 * Our config for `lb`, moved to `port` (HTTPS only) with its runtime socket at `socket` and
 * without the stats frontend, minus the lines of `without` (none: the exact copy). Throws when a
 * feature's pattern matches no line: the renderer changed and the bench would measure nothing.
 */
export function renderCopy(
  model: Model,
  lb: Host,
  { port, socket, without }: { port: number; socket: string; without?: Feature },
): string {
  const paths = hostPaths(model, lb.name);
  const lines = renderHaproxyConfig(model, lb, paths).split('\n');
  const stats = lines.findIndex((line) => line === 'frontend stats');
  const kept = (stats < 0 ? lines : lines.slice(0, stats))
    .filter((line) => line !== `    bind :${model.ports.http}`)
    .map((line) =>
      line
        .replace(`    bind :${model.ports.https} `, `    bind :${port} `)
        .replace(/^(\s+stats socket )\S+/, `$1${socket}`),
    );
  if (without === undefined) return kept.join('\n');
  for (const pattern of without.lines)
    if (!kept.some((line) => pattern.test(line)))
      throw new Error(`no line of our HAProxy config is ${without.name} (${String(pattern)})`);
  return kept.filter((line) => !without.lines.some((pattern) => pattern.test(line))).join('\n');
}

/** Starts a copy of our HAProxy on lb (see renderCopy) on ours + `offset`. */
export function startCopy(
  ctx: Context,
  lb: Host,
  name: string,
  offset: number,
  without?: Feature,
): Promise<Bare> {
  const port = ctx.model.ports.https + offset;
  const socket = path.join(hostPaths(ctx.model, lb.name).run, `haproxy-${name}.sock`);
  return startBenchHaproxy(ctx, lb, {
    name,
    port,
    config: renderCopy(ctx.model, lb, {
      port,
      socket,
      ...(without === undefined ? {} : { without }),
    }),
  });
}
