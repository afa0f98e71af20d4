/**
 * What visitors of the site did and saw (src/load/visitors.ts records it), and what a test reads
 * off it: counts by kind, the releases pages came from, the web servers that answered, the
 * failures. Pure: tests feed it made-up records. The drill's figures (outage windows, p99, cuts
 * in flight) are computed from the same records in src/drill/measure.ts.
 */

/**
 * What a visitor asks for: the home page, a static file, the guestbook's last messages, a write
 * to it, or /api/whoami (which web server and release answered, which database servers it reads
 * from and writes to: both asked on every request).
 */
export const VISIT_KINDS = ['page', 'static', 'read', 'write', 'whoami'] as const;
export type VisitKind = (typeof VISIT_KINDS)[number];

/** What visitors ask for unless told: what a browser does (the drill's load). */
export const DEFAULT_VISIT_KINDS: readonly VisitKind[] = ['page', 'static', 'read', 'write'];

/** Of each kind: GET and HEAD are safe to retry, the guestbook's POST is not. */
export const IDEMPOTENT_KINDS: readonly VisitKind[] = ['page', 'static', 'read', 'whoami'];

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
  /** Of an error on a reused kept-alive connection: how long it had sat idle (src/load/request.ts). */
  readonly idleMs?: number;
  /** Kept-alive connections found closed by the server, the request sent again after each. */
  readonly staleConnections?: number;
  /** X-Served-By: the web server that answered. */
  readonly server?: string;
  /** Of a page: the release it says served it. */
  readonly release?: string;
  /** Of a failed request: what it asked for. */
  readonly url?: string;
}

/** A write the site acknowledged (201) with the id it gave it. */
export interface AckedMessage {
  readonly text: string;
  readonly id: number;
}

/** An acknowledged write as its visitor saw it: also when the 201 came and which server took it. */
export interface AckedWrite extends AckedMessage {
  /** When the 201 arrived, ms since the epoch. */
  readonly at: number;
  /** The database server that took it, as the answer says. */
  readonly db: string;
}

export interface VisitorsReport {
  readonly startedAt: number;
  readonly endedAt: number;
  /** Every request that ended before the visitors left, by start. */
  readonly visits: readonly Visit[];
  /** Writes answered 201, with the id the site gave them. */
  readonly acked: readonly AckedWrite[];
}

/** Success as a visitor sees it: the page, file or answer came. */
export function succeeded(visit: Pick<Visit, 'status' | 'kind'>): boolean {
  return visit.kind === 'write' ? visit.status === 201 : visit.status >= 200 && visit.status < 400;
}

/** The release a home page says served it, and the assets it names. */
export function readPage(html: string): { release?: string; assets: string[] } {
  const release = /id="release">([0-9a-f]{12})</.exec(html)?.[1];
  const assets = [
    ...new Set([...html.matchAll(/"(\/static\/[0-9a-f]{12}\/[^"]+)"/g)].map((m) => m[1] ?? '')),
  ];
  return { ...(release === undefined ? {} : { release }), assets };
}

export interface KindCounts {
  readonly requests: number;
  /** Answers a visitor counts as success (see `succeeded`). */
  readonly ok: number;
  /** Status code → count, for every response. */
  readonly statuses: Record<string, number>;
  /** Error code (ECONNRESET, ETIMEDOUT, ...) → count, for requests that got no response. */
  readonly errors: Record<string, number>;
  /** X-Served-By → count: the web servers that answered this kind. */
  readonly servedBy: Record<string, number>;
  /** The longest request, from sending it to its answer (or its error), in ms; 0 when none. */
  readonly slowestMs: number;
  /** The 99th percentile of the requests' durations (nearest rank), in ms; 0 when none. */
  readonly p99Ms: number;
}

/** When pages of one release were served (ms since the epoch), and how many. */
export interface ReleaseSeen {
  readonly first: number;
  readonly last: number;
  readonly pages: number;
}

export interface VisitFailure {
  /** When it ended, ms since the epoch. */
  readonly at: number;
  readonly kind: VisitKind;
  /** The status or the error code. */
  readonly answer: string;
  readonly url: string;
  /** Of an error on a reused kept-alive connection: how long it had sat idle. */
  readonly idleMs?: number;
}

export interface VisitSummary {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly requests: number;
  readonly failed: number;
  readonly kinds: Record<VisitKind, KindCounts>;
  /** Release (as the page says) → when its pages (answered 200) were served. */
  readonly releases: Record<string, ReleaseSeen>;
  /** X-Served-By → count, over every kind. */
  readonly servedBy: Record<string, number>;
  /** The first failures (at most 100), by when they ended. */
  readonly failures: readonly VisitFailure[];
  /**
   * Safe requests sent again because the kept-alive connection they went out on had just been
   * closed by the server (its keep-alive timeout), as a browser sends them again: how many.
   */
  readonly resent: number;
}

const MAX_FAILURES = 100;

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** The value below which `p` (0–1) of the values fall (nearest rank); null without values. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1] ?? null;
}

/** What a test asserts on: the report's visits counted by kind, release and server. */
export function summarizeVisits(report: VisitorsReport): VisitSummary {
  const of = (kind: VisitKind): KindCounts =>
    kindCounts(report.visits.filter((v) => v.kind === kind));
  const kinds: Record<VisitKind, KindCounts> = {
    page: of('page'),
    static: of('static'),
    read: of('read'),
    write: of('write'),
    whoami: of('whoami'),
  };
  const releases: Record<string, { first: number; last: number; pages: number }> = {};
  const servedBy: Record<string, number> = {};
  const failures: VisitFailure[] = [];
  const byEnd = [...report.visits].sort((a, b) => a.start + a.ms - (b.start + b.ms));
  for (const visit of byEnd) {
    const at = visit.start + visit.ms;
    if (visit.server !== undefined) bump(servedBy, visit.server);
    if (!succeeded(visit) && failures.length < MAX_FAILURES)
      failures.push({
        at,
        kind: visit.kind,
        answer: visit.error ?? String(visit.status),
        url: visit.url ?? '',
        ...(visit.idleMs === undefined ? {} : { idleMs: visit.idleMs }),
      });
    if (visit.release !== undefined && visit.status === 200) {
      const seen = releases[visit.release] ?? { first: at, last: at, pages: 0 };
      seen.last = at;
      seen.pages++;
      releases[visit.release] = seen;
    }
  }
  const requests = report.visits.length;
  const ok = VISIT_KINDS.reduce((sum, k) => sum + kinds[k].ok, 0);
  return {
    startedAt: report.startedAt,
    endedAt: report.endedAt,
    requests,
    failed: requests - ok,
    kinds,
    releases,
    servedBy,
    failures,
    resent: report.visits.filter((v) => (v.staleConnections ?? 0) > 0).length,
  };
}

/** One kind's visits counted: answers, errors, servers, and how long they took. */
function kindCounts(visits: readonly Visit[]): KindCounts {
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const servedBy: Record<string, number> = {};
  for (const visit of visits) {
    if (visit.error !== undefined) bump(errors, visit.error);
    else bump(statuses, String(visit.status));
    if (visit.server !== undefined) bump(servedBy, visit.server);
  }
  const durations = visits.map((v) => v.ms);
  return {
    requests: visits.length,
    ok: visits.filter(succeeded).length,
    statuses,
    errors,
    servedBy,
    slowestMs: durations.reduce((most, ms) => Math.max(most, ms), 0),
    p99Ms: percentile(durations, 0.99) ?? 0,
  };
}

/** The writes of a report, as the database tests read them (`--kind write`). */
export interface WriteSummary {
  readonly requests: number;
  readonly acked: readonly AckedWrite[];
  /** Status code or error code → count, for every write that was not acknowledged. */
  readonly failures: Record<string, number>;
  /** When each unacknowledged write ended (ms since the epoch). */
  readonly failedAt: readonly number[];
  readonly startedAt: number;
  readonly endedAt: number;
  /** The longest write, from sending it to its answer (or its error), in ms. */
  readonly slowestMs: number;
}

export function summarizeWrites(report: VisitorsReport): WriteSummary {
  const writes = report.visits.filter((v) => v.kind === 'write');
  const failures: Record<string, number> = {};
  const failedAt: number[] = [];
  for (const visit of writes.filter((v) => !succeeded(v))) {
    bump(failures, visit.error ?? String(visit.status));
    failedAt.push(visit.start + visit.ms);
  }
  return {
    requests: writes.length,
    acked: report.acked,
    failures,
    failedAt: failedAt.sort((a, b) => a - b),
    startedAt: report.startedAt,
    endedAt: report.endedAt,
    slowestMs: writes.reduce((most, v) => Math.max(most, v.ms), 0),
  };
}
