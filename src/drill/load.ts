/**
 * The visitors (src/load/visitors.ts) run on a client host of the lab, through the driver: the
 * drill and the deploy and fault tests load the site the same way, from where the internet is.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { labPaths, hostPaths } from '../model/layout.ts';
import { hostsWithRole } from '../model/model.ts';
import { siteUrl } from '../probes/site.ts';
import { parseManifest, MANIFEST_FILE } from '../release/manifest.ts';
import type { Context } from '../steps/context.ts';
import { waitFor } from '../lib/wait.ts';
import type { Connections, StaticMethod } from '../load/visitors.ts';
import type { VisitKind, VisitorsReport } from '../load/visits.ts';

const VISITORS_SCRIPT = fileURLToPath(new URL('../load/visitors.ts', import.meta.url));

export interface VisitorsRun {
  readonly seconds: number;
  /** Unique per run: the prefix of every text written, and of the run's files. */
  readonly prefix: string;
  /** Each visitor loads pages, their assets and writes (the deploy tests), or one kind (the drill). */
  readonly browse?: boolean;
  /** By kind: which kinds (default: what a browser does, `DEFAULT_VISIT_KINDS`). */
  readonly kinds?: readonly VisitKind[];
  /** By kind: static file paths to fetch, e.g. from `staticPaths`. */
  readonly statics?: readonly string[];
  /** By kind: how static files are asked for (default GET). */
  readonly staticMethod?: StaticMethod;
  /** Default: mixed, half the visitors keep their connection, half come anew each time. */
  readonly connections?: Connections;
  /** Visitors per kind, or browsing visitors. */
  readonly visitors?: number;
  readonly intervalMs?: number;
  /** A visitor gives up on a request after this long (a failure). */
  readonly timeoutMs?: number;
  /** Aborting it sends the visitors away at once. */
  readonly signal?: AbortSignal;
}

/** Visitors on their way: they run on the client host until `seconds` pass or `stop()`. */
export interface RunningVisitors {
  /** Every request they made, once they have left. */
  readonly report: Promise<VisitorsReport>;
  /**
   * Resolves once a page was served or a write acknowledged (or the visitors are gone); throws
   * after `withinMs`.
   */
  ready(withinMs: number): Promise<void>;
  /** Sends them away at once; `report` then resolves. */
  stop(): Promise<void>;
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

/** Starts the visitors on the client host: the drill and the tests load the site this way. */
export function startVisitors(ctx: Context, run: VisitorsRun): RunningVisitors {
  const timeoutMs = run.timeoutMs ?? DEFAULT_VISIT_TIMEOUT_MS;
  const host = loadHost(ctx);
  const file = (what: string): string =>
    path.join(labPaths(ctx.model).state, `visitors-${run.prefix}.${what}`);
  const stopFile = file('stop');
  const readyFile = file('ready');
  let running = true;
  const stop = async (): Promise<void> => {
    if (running) await ctx.driver.writeFile(host, stopFile, '');
  };
  const onAbort = (): void => void stop();
  run.signal?.addEventListener('abort', onAbort, { once: true });
  const report = (async (): Promise<VisitorsReport> => {
    try {
      const result = await ctx.driver.exec(host, {
        argv: [
          ctx.nodeBinary,
          VISITORS_SCRIPT,
          '--url',
          siteUrl(ctx.model),
          '--cacert',
          labPaths(ctx.model).siteTrust,
          '--seconds',
          String(run.seconds),
          '--prefix',
          run.prefix,
          '--concurrency',
          String(run.visitors ?? 2),
          '--interval-ms',
          String(run.intervalMs ?? 50),
          '--timeout-ms',
          String(timeoutMs),
          '--stop-file',
          stopFile,
          '--ready-file',
          readyFile,
          ...(run.browse === true ? ['--browse'] : []),
          ...connectionFlags(run.connections ?? 'mixed'),
          ...(run.statics ?? []).flatMap((s) => ['--static', s]),
          ...(run.staticMethod === undefined ? [] : ['--static-method', run.staticMethod]),
          ...(run.kinds ?? []).flatMap((k) => ['--kind', k]),
        ],
        timeoutMs: run.seconds * 1000 + timeoutMs + 30_000,
      });
      return JSON.parse(result.stdout) as VisitorsReport;
    } finally {
      running = false;
      run.signal?.removeEventListener('abort', onAbort);
      await ctx.driver.remove(host, stopFile);
      await ctx.driver.remove(host, readyFile);
    }
  })();
  return {
    report,
    stop,
    // A slow machine may take seconds to start a Node process: wait for a served page or an
    // acknowledged write.
    ready: (withinMs) =>
      waitFor(
        'the visitors’ first page',
        async () =>
          !running || (await ctx.driver.readFile(host, readyFile)) !== undefined
            ? undefined
            : 'none yet',
        { timeoutMs: withinMs, intervalMs: 50, maxIntervalMs: 200 },
      ),
  };
}

function connectionFlags(connections: Connections): string[] {
  switch (connections) {
    case 'kept':
      return [];
    case 'fresh':
      return ['--fresh'];
    case 'mixed':
      return ['--mixed'];
  }
}
