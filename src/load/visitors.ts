/**
 * Visitors of the site: the one load generator of the deploy and fault tests and of `foobar drill`.
 * Two ways to visit:
 * - by kind (the drill's default): for each kind (page loads, static files, guestbook reads and
 *   writes; `--kind` names some of them, or /api/whoami) `--concurrency` visitors, each asking
 *   for that kind over and over, a request every `--interval-ms` at most, so each kind's outage
 *   window can be read off its own records. `--kind write --interval-ms 0` is the database tests'
 *   writer: writes back to back, each acknowledged one with its id, its time and the server that
 *   took it; `--static-method HEAD` asks for the static files with HEAD;
 * - `--browse` (the deploy tests'): `--concurrency` visitors that each load the home page, then
 *   the `/static/<release>/` assets that page names, then write to the guestbook, over and over.
 * Connections: kept alive like a browser's (the default), `--fresh` (a new connection and name
 * lookup per request, like curl), or `--mixed`: every second visitor comes anew each time.
 * Every request is recorded (kind, connection, start, duration, what came back, which web server
 * and, for a page, which release served it) with the writes acknowledged and their ids, so
 * outage windows, latencies, release switches and lost writes are computed afterwards
 * (src/load/visits.ts, src/drill/measure.ts). Run inside a host (the lab's client):
 *
 *   node src/load/visitors.ts --url https://www.foobar.com/ --cacert CA --seconds 10 \
 *     --mixed --static static/<release>/app.css --prefix drill1 --ready-file R --stop-file S
 *
 * It writes --ready-file once a page has been served or a write acknowledged (visitors are
 * really coming: Node's start
 * can take seconds on a busy machine), and leaves at once when --stop-file appears: requests
 * still in flight then are abandoned and not recorded (the visitor left, the site did not fail).
 * Prints one JSON report (`VisitorsReport`) on stdout. Bounded: it stops starting requests at
 * the deadline and waits at most --timeout-ms for the ones in flight.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { loadArgOptions, loadBounds, loadClient, type LoadBounds } from './options.ts';
import { sendRequest, type Outcome, type RequestSpec } from './request.ts';
import {
  DEFAULT_VISIT_KINDS,
  readPage,
  succeeded,
  VISIT_KINDS,
  type AckedWrite,
  type Visit,
  type VisitKind,
  type VisitorsReport,
} from './visits.ts';

/** How long a visitor waits after a failure before its next request. */
const FAILED_PAUSE_MS = 20;

/** Kept alive like a browser's; a new one per request (`--fresh`); half and half (`--mixed`). */
export type Connections = 'kept' | 'fresh' | 'mixed';

export const STATIC_METHODS = ['GET', 'HEAD'] as const;
export type StaticMethod = (typeof STATIC_METHODS)[number];

export interface VisitorsOptions extends Omit<LoadBounds, 'fresh'> {
  /** Each visitor loads a page, its assets and writes (true), or asks for one kind (false). */
  readonly browse: boolean;
  readonly connections: Connections;
  /** By kind: which kinds are asked for (static files only when `statics` names some). */
  readonly kinds: readonly VisitKind[];
  /** By kind: paths of static files (e.g. `static/<release>/app.css`), requested in turn. */
  readonly statics: readonly string[];
  /** By kind: how static files are asked for (a HEAD goes where a GET goes, and is retried alike). */
  readonly staticMethod: StaticMethod;
  /** Every written text is `<prefix>-<visitor>-<n>`: unique, so the database can be asked. */
  readonly prefix: string;
  /** Each visitor starts a request (by kind) or a visit (browsing) at most this often. */
  readonly intervalMs: number;
  /** When this file appears, the visitors leave at once. */
  readonly stopFile?: string;
  /** Written once the first page has been served. */
  readonly readyFile?: string;
}

/** What one request asks: its kind and where (the write's text goes in its body). */
function specFor(options: VisitorsOptions, kind: VisitKind, text: string, n: number): RequestSpec {
  const base = { method: 'GET', timeoutMs: options.timeoutMs };
  switch (kind) {
    case 'page':
      // The page's body names its release and assets.
      return { ...base, url: options.url, keepBody: true };
    case 'static':
      return {
        ...base,
        method: options.staticMethod,
        url: `${options.url}${options.statics[n % options.statics.length] ?? ''}`,
      };
    case 'read':
      return { ...base, url: `${options.url}api/messages?limit=5` };
    case 'whoami':
      return { ...base, url: `${options.url}api/whoami` };
    case 'write':
      return {
        ...base,
        method: 'POST',
        url: `${options.url}api/messages`,
        json: { text },
        keepBody: true,
      };
  }
}

export async function runVisitors(options: VisitorsOptions): Promise<VisitorsReport> {
  const clients = {
    kept: loadClient({ ...options, fresh: false }),
    fresh: loadClient({ ...options, fresh: true }),
  };
  const visits: Visit[] = [];
  const acked: AckedWrite[] = [];
  const startedAt = Date.now();
  const deadline = startedAt + options.seconds * 1000;
  let stopped = false;
  let ready = false;
  const stopFile = options.stopFile;
  const watch =
    stopFile === undefined
      ? undefined
      : setInterval(() => {
          if (!existsSync(stopFile)) return;
          stopped = true;
          clients.kept.agent.destroy();
          clients.fresh.agent.destroy();
        }, 100);
  const going = (): boolean => Date.now() < deadline && !stopped;

  /** One request, recorded unless the visitor left while it was in flight. */
  const ask = async (spec: RequestSpec, kind: VisitKind, fresh: boolean): Promise<Outcome> => {
    const start = Date.now();
    const outcome = await sendRequest(fresh ? clients.fresh : clients.kept, spec);
    if (stopped) return outcome;
    const status = outcome.status ?? 0;
    const release = kind === 'page' ? readPage(outcome.body ?? '').release : undefined;
    const visit = {
      kind,
      fresh,
      start,
      ms: Date.now() - start,
      status,
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
      ...(outcome.idleMs === undefined ? {} : { idleMs: outcome.idleMs }),
      ...(outcome.staleConnections === undefined
        ? {}
        : { staleConnections: outcome.staleConnections }),
      ...(outcome.server === undefined ? {} : { server: outcome.server }),
      ...(release === undefined ? {} : { release }),
    };
    visits.push(succeeded(visit) ? visit : { ...visit, url: spec.url });
    if (kind === 'write' && status === 201 && outcome.body !== undefined) {
      const body = JSON.parse(outcome.body) as { id: number; text: string; db: string };
      acked.push({ text: body.text, id: body.id, at: Date.now(), db: body.db });
    }
    const served =
      (release !== undefined && status === 200) || (kind === 'write' && status === 201);
    if (!ready && served && options.readyFile !== undefined) {
      ready = true;
      writeFileSync(options.readyFile, `${Date.now()}\n`);
    }
    return outcome;
  };
  const paced = async (start: number): Promise<void> => {
    await sleep(Math.max(0, options.intervalMs - (Date.now() - start)));
  };

  const byKind = async (kind: VisitKind, visitor: number, fresh: boolean): Promise<void> => {
    for (let n = 0; going(); n++) {
      const start = Date.now();
      const text = `${options.prefix}-${visitor}-${n}`;
      const outcome = await ask(specFor(options, kind, text, n), kind, fresh);
      await paced(start);
      // A site that refuses at once is not asked again at once (with no interval it would spin).
      if (!succeeded({ kind, status: outcome.status ?? 0 })) await sleep(FAILED_PAUSE_MS);
    }
  };
  const browsing = async (visitor: number, fresh: boolean): Promise<void> => {
    const origin = new URL(options.url).origin;
    for (let n = 0; going(); n++) {
      const start = Date.now();
      const page = await ask(specFor(options, 'page', '', n), 'page', fresh);
      for (const asset of readPage(page.body ?? '').assets) {
        if (!going()) return;
        const spec = { method: 'GET', timeoutMs: options.timeoutMs, url: `${origin}${asset}` };
        await ask(spec, 'static', fresh);
      }
      if (!going()) return;
      const text = `${options.prefix}-${visitor}-${n}`;
      await ask(specFor(options, 'write', text, n), 'write', fresh);
      await paced(start);
    }
  };
  // Mixed: every second visitor comes anew each time.
  const fresh = (visitor: number): boolean =>
    options.connections === 'fresh' || (options.connections === 'mixed' && visitor % 2 === 1);
  const visitors = Array.from({ length: options.concurrency }, (_, visitor) => visitor);
  const kinds = options.kinds.filter((k) => k !== 'static' || options.statics.length > 0);
  await Promise.all(
    options.browse
      ? visitors.map((v) => browsing(v, fresh(v)))
      : kinds.flatMap((kind) => visitors.map((v) => byKind(kind, v, fresh(v)))),
  );
  clearInterval(watch);
  clients.kept.agent.destroy();
  clients.fresh.agent.destroy();
  visits.sort((a, b) => a.start - b.start);
  return { startedAt, endedAt: Date.now(), visits, acked };
}

export function parseVisitorsArgs(args: readonly string[]): VisitorsOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      ...loadArgOptions({ concurrency: '2', timeoutMs: '40000' }),
      browse: { type: 'boolean', default: false },
      mixed: { type: 'boolean', default: false },
      static: { type: 'string', multiple: true, default: [] },
      'static-method': { type: 'string', default: 'GET' },
      kind: { type: 'string', multiple: true, default: [...DEFAULT_VISIT_KINDS] },
      prefix: { type: 'string', default: 'visit' },
      'interval-ms': { type: 'string', default: '50' },
      'stop-file': { type: 'string' },
      'ready-file': { type: 'string' },
    },
  });
  if (values.fresh && values.mixed) throw new Error('--fresh and --mixed exclude each other');
  const unknown = values.kind.filter((k) => !(VISIT_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0)
    throw new Error(`--kind ${unknown.join(', ')}: one of ${VISIT_KINDS.join(', ')}`);
  const staticMethod = STATIC_METHODS.find((m) => m === values['static-method']);
  if (staticMethod === undefined)
    throw new Error(
      `--static-method ${values['static-method']}: one of ${STATIC_METHODS.join(', ')}`,
    );
  const url = values.url?.endsWith('/') === false ? `${values.url}/` : values.url;
  return {
    // Which visitors come anew is `connections`' to say.
    ...loadBounds({ ...values, url, fresh: false }, 64),
    browse: values.browse,
    connections: values.fresh ? 'fresh' : values.mixed ? 'mixed' : 'kept',
    kinds: VISIT_KINDS.filter((k) => values.kind.includes(k)),
    statics: values.static,
    staticMethod,
    prefix: values.prefix,
    intervalMs: Math.max(0, Number(values['interval-ms'])),
    ...(values['stop-file'] === undefined ? {} : { stopFile: values['stop-file'] }),
    ...(values['ready-file'] === undefined ? {} : { readyFile: values['ready-file'] }),
  };
}

if (import.meta.main) {
  const report = await runVisitors(parseVisitorsArgs(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
