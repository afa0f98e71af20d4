/**
 * The visitors (src/load/visitors.ts) run on a client host of the lab, through the driver: the
 * drill and the fault tests load the site the same way, from where the internet is.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { labPaths, hostPaths } from '../model/layout.ts';
import { hostsWithRole } from '../model/model.ts';
import { siteUrl } from '../probes/site.ts';
import { parseManifest, MANIFEST_FILE } from '../release/manifest.ts';
import type { Context } from '../steps/context.ts';
import type { VisitorsReport } from '../load/visitors.ts';

const VISITORS_SCRIPT = fileURLToPath(new URL('../load/visitors.ts', import.meta.url));

export interface VisitorsRun {
  readonly seconds: number;
  /** Unique per run: the prefix of every text written. */
  readonly prefix: string;
  /** Static file paths to fetch, e.g. from `staticPaths`. */
  readonly statics: readonly string[];
  /** Visitors per kind (half keep-alive, half new connections). */
  readonly visitorsPerKind?: number;
  readonly intervalMs?: number;
  /** A visitor gives up on a request after this long (a failure). */
  readonly timeoutMs?: number;
  /** Aborting it sends the visitors away at once. */
  readonly signal?: AbortSignal;
  /** Called when the visitors have set off (their clock starts then). */
  readonly onStarted?: () => void;
}

export const DEFAULT_VISIT_TIMEOUT_MS = 40_000;

/**
 * The client host the load comes from: one the rate limit does not count, as an operator exempts
 * a load generator (otherwise the drill would measure the limit's 429s, not the fault).
 */
export function loadHost(ctx: Context): string {
  const clients = hostsWithRole(ctx.model, 'client');
  if (clients.length === 0) throw new Error('the model has no client host to load the site from');
  const exempt = clients.find((c) => ctx.model.limits.rateLimit.exempt.includes(c.name));
  if (exempt === undefined)
    throw new Error(
      `the visitors come from a client host (${clients.map((c) => c.name).join(', ')}), and the ` +
        'per-client rate limit would answer most of them 429: exempt it in foobar.yaml ' +
        `(limits: {rateLimit: {exempt: [${clients[0]?.name ?? 'client'}]}}), then foobar up`,
    );
  return exempt.name;
}

/** The live release's static files, as a browser addresses them (`static/<release>/...`). */
export async function staticPaths(ctx: Context): Promise<string[]> {
  const web = hostsWithRole(ctx.model, 'web')[0];
  if (web === undefined) return [];
  const current = hostPaths(ctx.model, web.name).current;
  const text = await ctx.driver.readFile(web.name, path.join(current, MANIFEST_FILE));
  if (text === undefined) return [];
  const manifest = parseManifest(text);
  return Object.keys(manifest.files)
    .filter((file) => file.startsWith('static/'))
    .map((file) => `static/${manifest.id}/${file.slice('static/'.length)}`);
}

/** Runs the visitors on the client host; resolves with every request they made. */
export async function runVisitorsOnClient(ctx: Context, run: VisitorsRun): Promise<VisitorsReport> {
  const timeoutMs = run.timeoutMs ?? DEFAULT_VISIT_TIMEOUT_MS;
  const host = loadHost(ctx);
  const stopFile = path.join(labPaths(ctx.model).state, `visitors-${run.prefix}.stop`);
  const startedFile = path.join(labPaths(ctx.model).state, `visitors-${run.prefix}.started`);
  const stop = (): void => {
    void ctx.driver.writeFile(host, stopFile, '');
  };
  run.signal?.addEventListener('abort', stop, { once: true });
  let running = true;
  const watchStart = async (): Promise<void> => {
    while (running && (await ctx.driver.readFile(host, startedFile)) === undefined)
      await sleep(100);
    if (running) run.onStarted?.();
  };
  void watchStart();
  try {
    return await visit(ctx, host, run, timeoutMs, [
      '--stop-file',
      stopFile,
      '--started-file',
      startedFile,
    ]);
  } finally {
    running = false;
    run.signal?.removeEventListener('abort', stop);
    await ctx.driver.remove(host, stopFile);
    await ctx.driver.remove(host, startedFile);
  }
}

async function visit(
  ctx: Context,
  host: string,
  run: VisitorsRun,
  timeoutMs: number,
  files: readonly string[],
): Promise<VisitorsReport> {
  const result = await ctx.driver.exec(host, {
    argv: [
      ctx.nodeBinary,
      VISITORS_SCRIPT,
      '--url',
      siteUrl(ctx.model),
      '--cacert',
      labPaths(ctx.model).caCertificate,
      '--seconds',
      String(run.seconds),
      '--prefix',
      run.prefix,
      '--concurrency',
      String(run.visitorsPerKind ?? 2),
      '--interval-ms',
      String(run.intervalMs ?? 50),
      '--timeout-ms',
      String(timeoutMs),
      ...files,
      ...run.statics.flatMap((s) => ['--static', s]),
    ],
    timeoutMs: run.seconds * 1000 + timeoutMs + 30_000,
  });
  return JSON.parse(result.stdout) as VisitorsReport;
}
