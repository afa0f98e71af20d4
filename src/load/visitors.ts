/**
 * Visitors of the site, as the drill and the fault tests load it: page loads, static files,
 * guestbook reads and writes (unique texts), each kind from keep-alive visitors and from new
 * visitors (a new connection and name lookup per request, like curl). Every request is recorded
 * (kind, start, duration, what came back), so outage windows and latencies can be computed
 * afterwards. Run inside a host (the lab's client):
 *
 *   node src/load/visitors.ts --url https://www.foobar.com/ --cacert CA --seconds 10 \
 *     --static static/<release>/app.css --prefix drill1
 *
 * Prints one JSON report on stdout. Bounded: it stops starting requests at the deadline and
 * waits at most --timeout-ms for the ones in flight.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { loadArgOptions, loadBounds, loadClient, type LoadBounds } from './options.ts';
import { sendRequest, type RequestSpec } from './request.ts';

export const VISIT_KINDS = ['page', 'static', 'read', 'write'] as const;
export type VisitKind = (typeof VISIT_KINDS)[number];

/** Of each kind: GET and HEAD are safe to retry, the guestbook's POST is not. */
export const IDEMPOTENT_KINDS: readonly VisitKind[] = ['page', 'static', 'read'];

export interface Visit {
  readonly kind: VisitKind;
  /** A new connection (and lookup) for this request; otherwise a kept-alive one. */
  readonly fresh: boolean;
  /** When it started, ms since the epoch. */
  readonly start: number;
  readonly ms: number;
  /** 0 when no response came. */
  readonly status: number;
  /** The error code when no response came. */
  readonly error?: string;
}

export interface AckedMessage {
  readonly text: string;
  readonly id: number;
}

export interface VisitorsReport {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly visits: readonly Visit[];
  /** Writes answered 201, with the id the site gave them. */
  readonly acked: readonly AckedMessage[];
}

export interface VisitorsOptions extends LoadBounds {
  /** Paths of static files (e.g. `static/<release>/app.css`), requested in turn. */
  readonly statics: readonly string[];
  /** Every written text is `<prefix>-<worker>-<n>`: unique, so the database can be asked. */
  readonly prefix: string;
  /** Each visitor starts a request at most this often. */
  readonly intervalMs: number;
  /** When this file appears, the visitors leave at once (the drill was interrupted). */
  readonly stopFile?: string;
  /** Written when the first visitors set off: Node's start can take seconds on a busy machine. */
  readonly startedFile?: string;
}

/** Success as a visitor sees it: the page, file or answer came. */
export function succeeded(visit: Pick<Visit, 'status' | 'kind'>): boolean {
  return visit.kind === 'write' ? visit.status === 201 : visit.status >= 200 && visit.status < 400;
}

function specFor(
  options: VisitorsOptions,
  kind: VisitKind,
  worker: number,
  n: number,
): RequestSpec {
  const base = { method: 'GET', timeoutMs: options.timeoutMs };
  switch (kind) {
    case 'page':
      return { ...base, url: options.url };
    case 'static':
      return { ...base, url: `${options.url}${options.statics[n % options.statics.length] ?? ''}` };
    case 'read':
      return { ...base, url: `${options.url}api/messages?limit=5` };
    case 'write':
      return {
        ...base,
        method: 'POST',
        url: `${options.url}api/messages`,
        json: { text: `${options.prefix}-${worker}-${n}` },
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
  const acked: AckedMessage[] = [];
  if (options.startedFile !== undefined) writeFileSync(options.startedFile, '');
  const startedAt = Date.now();
  const deadline = startedAt + options.seconds * 1000;
  const kinds = VISIT_KINDS.filter((k) => k !== 'static' || options.statics.length > 0);
  let stopped = false;
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
  const visitor = async (kind: VisitKind, worker: number): Promise<void> => {
    // Half the visitors keep their connection, half come anew each time.
    const fresh = worker % 2 === 1;
    for (let n = 0; Date.now() < deadline && !stopped; n++) {
      const spec = specFor(options, kind, worker, n);
      const start = Date.now();
      const outcome = await sendRequest(fresh ? clients.fresh : clients.kept, spec);
      const status = outcome.status ?? 0;
      visits.push({
        kind,
        fresh,
        start,
        ms: Date.now() - start,
        status,
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
      });
      if (kind === 'write' && status === 201 && outcome.body !== undefined) {
        const body = JSON.parse(outcome.body) as { id: number; text: string };
        acked.push({ text: body.text, id: body.id });
      }
      await sleep(Math.max(0, options.intervalMs - (Date.now() - start)));
    }
  };
  await Promise.all(
    kinds.flatMap((kind) =>
      Array.from({ length: options.concurrency }, (_, worker) => visitor(kind, worker)),
    ),
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
      static: { type: 'string', multiple: true, default: [] },
      prefix: { type: 'string', default: 'visit' },
      'interval-ms': { type: 'string', default: '50' },
      'stop-file': { type: 'string' },
      'started-file': { type: 'string' },
    },
  });
  const url = values.url?.endsWith('/') === false ? `${values.url}/` : values.url;
  return {
    ...loadBounds({ ...values, url }, 16),
    statics: values.static,
    prefix: values.prefix,
    intervalMs: Math.max(1, Number(values['interval-ms'])),
    ...(values['stop-file'] === undefined ? {} : { stopFile: values['stop-file'] }),
    ...(values['started-file'] === undefined ? {} : { startedFile: values['started-file'] }),
  };
}

if (import.meta.main) {
  const report = await runVisitors(parseVisitorsArgs(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
