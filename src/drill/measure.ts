/**
 * What visitors lost during a fault, computed from the visitors' own records
 * (src/load/visitors.ts). Pure: tests feed it made-up records.
 */
import { percentile, succeeded, VISIT_KINDS, type Visit, type VisitKind } from '../load/visits.ts';

/** When the fault was injected and when the heal began (ms since the epoch). */
export interface FaultPeriod {
  readonly injectedAt: number;
  /** When the injector returned: the fault had struck by then. */
  readonly struckAt: number;
  readonly healedAt: number;
}

/** Errors of a connection that was cut under a request (rather than refused or never answered). */
const CUT_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * A request whose connection the fault cut: a process killed under it (its kernel resets its
 * connections) or an address moved away (the new holder resets connections it never heard of).
 * Either the request was already in flight when the fault struck, or it went out on a kept-alive
 * connection opened before (a browser retries an idempotent request whose reused connection was
 * reset, RFC 9112 §9.3.1; curl reports it). No server can answer those.
 */
export function cutInFlight(visit: Visit, period: FaultPeriod): boolean {
  return (
    !succeeded(visit) &&
    visit.error !== undefined &&
    CUT_ERRORS.has(visit.error) &&
    (visit.start < period.struckAt || !visit.fresh)
  );
}

export interface KindFigures {
  readonly kind: VisitKind;
  readonly requests: number;
  readonly failed: number;
  /** Status code or error code → count, for the failed ones. */
  readonly failures: Readonly<Record<string, number>>;
  /** Of the failed ones, those in flight when the fault struck, whose connection it cut. */
  readonly cutInFlight: number;
  /** The longest stretch during which this kind's requests kept failing (0: none failed). */
  readonly longestOutageMs: number;
  /** p99 latency of the requests started before the fault, and of those started during it. */
  readonly p99BeforeMs: number | null;
  readonly p99DuringMs: number | null;
}

const end = (v: Visit): number => v.start + v.ms;

/**
 * The longest outage window of one kind's visits: requests ordered by when they ended, a window is
 * a run of consecutive failures with no success among them, from the earliest start in the run to
 * its latest end. One failed request is a window as long as that request; 0 when none failed.
 */
export function longestOutage(visits: readonly Visit[]): number {
  const byEnd = [...visits].sort((a, b) => end(a) - end(b));
  let longest = 0;
  let run: { from: number; to: number } | undefined;
  for (const visit of byEnd) {
    if (succeeded(visit)) {
      run = undefined;
      continue;
    }
    run =
      run === undefined
        ? { from: visit.start, to: end(visit) }
        : { from: Math.min(run.from, visit.start), to: Math.max(run.to, end(visit)) };
    longest = Math.max(longest, run.to - run.from);
  }
  return longest;
}

export function kindFigures(
  visits: readonly Visit[],
  kind: VisitKind,
  period: FaultPeriod,
): KindFigures {
  const mine = visits.filter((v) => v.kind === kind);
  const failures: Record<string, number> = {};
  for (const visit of mine.filter((v) => !succeeded(v))) {
    const key = visit.error ?? String(visit.status);
    failures[key] = (failures[key] ?? 0) + 1;
  }
  const latencies = (from: number, to: number): number[] =>
    mine.filter((v) => v.start >= from && v.start < to).map((v) => v.ms);
  return {
    kind,
    requests: mine.length,
    failed: Object.values(failures).reduce((a, b) => a + b, 0),
    failures,
    cutInFlight: mine.filter((v) => cutInFlight(v, period)).length,
    longestOutageMs: longestOutage(mine),
    p99BeforeMs: percentile(latencies(-Infinity, period.injectedAt), 0.99),
    p99DuringMs: percentile(latencies(period.injectedAt, period.healedAt), 0.99),
  };
}

export function figuresByKind(visits: readonly Visit[], period: FaultPeriod): KindFigures[] {
  return VISIT_KINDS.map((kind) => kindFigures(visits, kind, period)).filter((k) => k.requests > 0);
}

/**
 * How long writes were gone: the longest gap between two acknowledged writes (by when the
 * acknowledgement arrived) that ends after the injection; until `endedAt` if none came after it.
 */
export function writePause(visits: readonly Visit[], injectedAt: number, endedAt: number): number {
  const acks = visits
    .filter((v) => v.kind === 'write' && succeeded(v))
    .map(end)
    .sort((a, b) => a - b);
  const before = acks.filter((t) => t <= injectedAt).at(-1) ?? injectedAt;
  const after = acks.filter((t) => t > injectedAt);
  let longest = 0;
  let previous = before;
  for (const t of after) {
    longest = Math.max(longest, t - previous);
    previous = t;
  }
  return after.length === 0 ? endedAt - before : longest;
}

/** Name lookups that failed: getaddrinfo's errors, as Node reports them. */
export function lookupFailures(visits: readonly Visit[]): number {
  return visits.filter((v) => v.error !== undefined && /^(ENOTFOUND|EAI_)/.test(v.error)).length;
}

/** Acknowledged writes as the drill's table shows them (see `auditWrites`). */
export interface WriteCount {
  readonly acked: number;
  /** Acknowledged writes not in the database with the id they were acknowledged with. */
  readonly lost: number;
  /** Texts stored more than once (acknowledged or not). */
  readonly duplicated: number;
}
