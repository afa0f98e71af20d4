/**
 * `foobar drill`: for each fault, visitors load the site from the client host; the fault is
 * injected after a calm start, watched, healed after `seconds`, and the lab must be healthy again
 * before the next one. Whatever happens (an error, Ctrl-C through `signal`), what was broken is
 * healed before this returns.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { limitedDriver } from '../drivers/limited.ts';
import { createContext, type Context } from '../steps/context.ts';
import { readDbState } from '../steps/db/state.ts';
import { labStatus, type LabStatus } from '../steps/status.ts';
import {
  prometheusAlerts,
  prometheusLastEvaluation,
  prometheusLastScrapes,
} from '../probes/prometheus.ts';
import type { Host } from '../model/model.ts';
import { percentile, type AckedMessage, type VisitorsReport } from '../load/visits.ts';
import { faultsLeft } from '../faults/inject.ts';
import { faultHost, healFault, injectFault, type Fault } from './faults.ts';
import { missedGoals, type Goal } from './goals.ts';
import { loadHost, startVisitors, staticPaths } from './load.ts';
import { auditWrites, storedMessages } from './writes.ts';
import { drillRestore, RESTORE_CHECK, type RestoreCheck } from './restore.ts';
import {
  figuresByKind,
  lookupFailures,
  writePause,
  type KindFigures,
  type WriteCount,
} from './measure.ts';
import { WATCHERS, WatchLog, type WatchResult } from './watchers.ts';

export interface DrillOptions {
  /** How long each fault lasts before it is healed. */
  readonly seconds: number;
  /** Calm load before the injection, and load after the heal. */
  readonly calmSeconds?: number;
  readonly visitTimeoutMs?: number;
  /** How long the lab may take to be healthy again after a heal. */
  readonly healthyWithinMs?: number;
  /** A line about what the drill is doing; `transient` ones only matter until the next. */
  readonly progress?: (line: string, transient?: boolean) => void;
  readonly signal?: AbortSignal;
  /** Also the restore check (src/drill/restore.ts), after the faults. */
  readonly restore?: boolean;
}

export interface DrillRow extends WatchResult {
  readonly fault: string;
  readonly host: string;
  readonly goal: Goal;
  readonly injectedAt: string;
  /** From the injection to the heal. */
  readonly seconds: number;
  readonly kinds: readonly KindFigures[];
  readonly requests: number;
  readonly failed: number;
  readonly p99BeforeMs: number | null;
  readonly p99DuringMs: number | null;
  readonly writePauseMs: number;
  readonly lookupFailures: number;
  readonly writes: WriteCount;
  /** The system recovered by itself, before the drill healed the fault. */
  readonly automatic: boolean;
  /** How long the lab took to be healthy again after the heal began. */
  readonly healthyAfterMs: number;
  readonly missed: readonly string[];
  readonly passed: boolean;
}

export interface DrillReport {
  readonly lab: string;
  readonly startedAt: string;
  readonly machine: string;
  readonly rows: readonly DrillRow[];
  /** The restore check, when it was asked for (`backup:restore`). */
  readonly restore?: RestoreCheck;
  readonly passed: boolean;
}

export class UnhealthyLabError extends Error {
  override name = 'UnhealthyLabError';
}

/** Why the lab is not healthy, in a few words per problem. */
export function unhealthyParts(status: LabStatus): string[] {
  return [
    ...status.hosts.flatMap((h) =>
      !h.up
        ? [`${h.name} is down`]
        : h.services
            .filter((s) => !s.healthy)
            .map((s) => `${h.name} ${s.name}: ${s.detail ?? 'unhealthy'}`),
    ),
    ...status.loadBalancers.flatMap((lb) =>
      lb.error !== undefined
        ? [`${lb.name}: ${lb.error}`]
        : lb.servers.filter((s) => !s.up).map((s) => `${lb.name} sees ${s.name} ${s.status}`),
    ),
    ...status.site.filter((s) => !s.ok).map((s) => `site via ${s.via}: ${s.detail}`),
    ...status.releases.drift,
    ...(status.monitoring?.targets.down.map((t) => `target down: ${t}`) ?? []),
    ...(status.monitoring?.alerts.map((a) => `alert firing: ${a.name}`) ?? []),
    ...(status.monitoring?.error === undefined ? [] : [`monitoring: ${status.monitoring.error}`]),
  ];
}

const PROBES_AT_ONCE = 6;

/** The lab's status taken a few probes at a time: dozens at once time out on a busy machine. */
export function statusFewAtATime(ctx: Context): Promise<LabStatus> {
  return labStatus(
    createContext(ctx.model, limitedDriver(ctx.driver, PROBES_AT_ONCE), ctx.nodeBinary),
  );
}

/** The alerts about to fire; none when the lab has no monitoring to ask. */
async function pendingAlerts(ctx: Context): Promise<string[]> {
  const alerts = await prometheusAlerts(ctx);
  if ('error' in alerts) return [];
  return alerts.filter((a) => a.state === 'pending').map((a) => `alert pending: ${a.name}`);
}

/**
 * Follows Prometheus from a moment on (`start`) until it has scraped every target again, then
 * evaluated its alert rules on those scrapes: only then would an alert about what happened before
 * that moment be pending. Prometheus' clock only, so a monitor whose clock is off changes nothing.
 */
class MonitoringCatchUp {
  readonly #ctx: Context;
  /** Each target's last scrape at the start; undefined: no monitoring to ask. */
  readonly #before: ReadonlyMap<string, number> | undefined;
  #scrapedBy: number | undefined;
  #caughtUp: boolean;

  private constructor(ctx: Context, before: ReadonlyMap<string, number> | undefined) {
    this.#ctx = ctx;
    this.#before = before;
    // No monitoring to ask: the status says so, and there is nothing to wait for.
    this.#caughtUp = before === undefined;
  }

  static async start(ctx: Context): Promise<MonitoringCatchUp> {
    const scrapes = await prometheusLastScrapes(ctx);
    return new MonitoringCatchUp(ctx, 'error' in scrapes ? undefined : scrapes);
  }

  /** What Prometheus has not done yet; nothing once it caught up. */
  async lag(): Promise<string[]> {
    if (this.#caughtUp || this.#before === undefined) return [];
    if (this.#scrapedBy === undefined) {
      const scrapes = await prometheusLastScrapes(this.#ctx);
      if ('error' in scrapes) return [];
      const stale = [...this.#before].filter(([url, at]) => (scrapes.get(url) ?? at) <= at);
      if (stale.length > 0) return [`Prometheus has not scraped ${stale.length} targets again`];
      this.#scrapedBy = Math.max(...scrapes.values());
    }
    const evaluated = await prometheusLastEvaluation(this.#ctx);
    if (typeof evaluated === 'number' && evaluated < this.#scrapedBy)
      return ['Prometheus has not evaluated its alert rules on its last scrapes'];
    this.#caughtUp = true;
    return [];
  }
}

/**
 * Resolves once the lab is healthy; throws, naming what is not, after `withinMs`. With
 * `monitoring`, healthy also means Prometheus has caught up with the moment it started from: what
 * the visitors met until then (slow requests are counted when they end, after the heal) may still
 * turn into an alert.
 */
export async function waitHealthy(
  ctx: Context,
  withinMs: number,
  signal?: AbortSignal,
  monitoring?: MonitoringCatchUp,
): Promise<void> {
  const started = Date.now();
  for (;;) {
    const status = await statusFewAtATime(ctx);
    // Healthy, and Prometheus has caught up: an alert still pending was evaluated on a scrape from
    // before the heal and fires at its next evaluation (seen in CI: LbBackendDown firing a moment
    // after the drill had found web-01's app healed and the lab healthy; LatencyP99High firing
    // on the slow requests of a silence, counted by the app when they ended).
    const pending =
      status.health === 'healthy'
        ? [...((await monitoring?.lag()) ?? []), ...(await pendingAlerts(ctx))]
        : [];
    if (status.health === 'healthy' && pending.length === 0) return;
    if (Date.now() - started >= withinMs)
      throw new UnhealthyLabError(
        `lab ${ctx.model.lab.name} is not healthy (${[...unhealthyParts(status), ...pending].join('; ') || status.health}): ` +
          'a drill starts from a healthy lab and leaves it healthy (foobar status shows what is wrong, foobar up repairs it)',
      );
    await sleep(1000, undefined, { signal });
  }
}

interface Timeline {
  readonly injectedAt: number;
  readonly struckAt: number;
  readonly healedAt: number;
  readonly healthyAfterMs: number;
}

/** A row from what the visitors saw, what the watchers saw, and what the database holds. */
export function drillRow(
  fault: Fault,
  host: Host,
  visitors: VisitorsReport,
  timeline: Timeline,
  watch: WatchResult,
  rows: readonly AckedMessage[],
): DrillRow {
  const period = {
    injectedAt: timeline.injectedAt,
    struckAt: timeline.struckAt,
    healedAt: timeline.healedAt,
  };
  const kinds = figuresByKind(visitors.visits, period);
  const audit = auditWrites(visitors.acked, rows);
  const latencies = (from: number, to: number): number[] =>
    visitors.visits.filter((v) => v.start >= from && v.start < to).map((v) => v.ms);
  const figures = {
    kinds,
    writePauseMs: writePause(visitors.visits, timeline.injectedAt, visitors.endedAt),
    lookupFailures: lookupFailures(visitors.visits),
    writes: { acked: audit.acked, lost: audit.lost.length, duplicated: audit.duplicated.length },
  };
  const missed = missedGoals(fault.goal, figures);
  return {
    fault: fault.name,
    host: host.name,
    goal: fault.goal,
    injectedAt: new Date(timeline.injectedAt).toISOString(),
    seconds: (timeline.healedAt - timeline.injectedAt) / 1000,
    ...figures,
    requests: kinds.reduce((n, k) => n + k.requests, 0),
    failed: kinds.reduce((n, k) => n + k.failed, 0),
    p99BeforeMs: percentile(latencies(-Infinity, timeline.injectedAt), 0.99),
    p99DuringMs: percentile(latencies(timeline.injectedAt, timeline.healedAt), 0.99),
    ...watch,
    automatic:
      watch.recoveredMs !== undefined &&
      watch.recoveredMs <= timeline.healedAt - timeline.injectedAt,
    healthyAfterMs: timeline.healthyAfterMs,
    missed,
    passed: missed.length === 0,
  };
}

const POLL_MS = 100;
/** Starting Node on the client took several seconds with five labs running: a bound. */
const VISITORS_READY_MS = 60_000;

async function drillOne(
  ctx: Context,
  fault: Fault,
  options: DrillOptions,
  tag: string,
): Promise<DrillRow> {
  const say = options.progress ?? (() => undefined);
  const signal = options.signal;
  const calm = options.calmSeconds ?? 3;
  const host = await faultHost(ctx, fault);
  const prefix = `drill-${tag}`;
  say(`${fault.name}: visitors arriving (${calm} s calm)`);
  const visitors = startVisitors(ctx, {
    seconds: calm + options.seconds + calm,
    prefix,
    statics: await staticPaths(ctx),
    ...(signal === undefined ? {} : { signal }),
    ...(options.visitTimeoutMs === undefined ? {} : { timeoutMs: options.visitTimeoutMs }),
  });
  // Runs on in the background; the drill waits for it below, and on every way out.
  visitors.report.catch(() => undefined);
  let injectedAt = 0;
  let healedAt = 0;
  let healed = false;
  const heal = async (): Promise<void> => {
    if (healed || injectedAt === 0) return;
    healed = true;
    healedAt = Date.now();
    say(`${fault.name}: healing`);
    await healFault(ctx, fault, host);
  };
  try {
    // The calm period starts when the visitors do (a process start can take seconds here).
    // A failed start of the visitors ends the drill here, before any fault.
    await Promise.race([visitors.ready(VISITORS_READY_MS), visitors.report]);
    await sleep(calm * 1000, undefined, { signal });
    const watches = (await Promise.all(WATCHERS.map((w) => w.watch(ctx, fault, host)))).filter(
      (w) => w !== undefined,
    );
    const log = new WatchLog(watches, () => injectedAt);
    injectedAt = Date.now();
    await injectFault(ctx, fault, host);
    const struckAt = Date.now();
    say(`${fault.name}: injected on ${host.name}`);
    const until = injectedAt + options.seconds * 1000;
    const told = new Set<string>();
    while (Date.now() < until) {
      await Promise.all([log.poll(), sleep(POLL_MS, undefined, { signal })]);
      const seen = log.result;
      for (const [what, ms] of [
        [seen.detectedBy, seen.detectedMs],
        [seen.recoveredBy, seen.recoveredMs],
      ] as const) {
        if (what === undefined || ms === undefined || told.has(what)) continue;
        told.add(what);
        say(`${fault.name}: ${what} after ${(ms / 1000).toFixed(2)} s`);
      }
      say(
        `${fault.name} on ${host.name}: ${((Date.now() - injectedAt) / 1000).toFixed(1)} of ${options.seconds} s`,
        true,
      );
    }
    await heal();
    say(`${fault.name}: waiting for the visitors to finish`);
    const report = await visitors.report;
    say(`${fault.name}: waiting for the lab to be healthy`);
    const monitoring = await MonitoringCatchUp.start(ctx);
    await waitHealthy(ctx, options.healthyWithinMs ?? 120_000, signal, monitoring);
    const healthyAfterMs = Date.now() - healedAt;
    const left = await faultsLeft(ctx);
    if (left.length > 0) throw new Error(`${fault.name}: the heal left ${left.join('; ')}`);
    const rows = await storedMessages(ctx, (await readDbState(ctx)).primary, prefix);
    return drillRow(
      fault,
      host,
      report,
      { injectedAt, struckAt, healedAt, healthyAfterMs },
      log.result,
      rows,
    );
  } finally {
    await heal();
  }
}

/** Runs each fault in turn; refuses to start on a lab that is not healthy. */
export async function runDrill(
  ctx: Context,
  faults: readonly Fault[],
  options: DrillOptions,
): Promise<DrillReport> {
  const started = new Date();
  // Refuses before anything else when no client host can load the site (the faults' visitors).
  if (faults.length > 0) loadHost(ctx);
  options.progress?.('checking that the lab is healthy');
  // A fault left behind is certain and cheap to see: say so at once.
  const left = await faultsLeft(ctx);
  if (left.length > 0)
    throw new UnhealthyLabError(
      `lab ${ctx.model.lab.name} still has faults injected earlier: ${left.join('; ')}`,
    );
  // A probe timing out on a busy machine is not a sick lab: give it a few tries to agree.
  await waitHealthy(ctx, 30_000, options.signal);
  const rows: DrillRow[] = [];
  const run = started.getTime().toString(36);
  for (const [i, fault] of faults.entries()) {
    const row = await drillOne(ctx, fault, options, `${run}-${i}`);
    rows.push(row);
    options.progress?.(
      `[${i + 1}/${faults.length}] ${fault.name}: ${row.passed ? 'passed' : 'missed its goal'}`,
    );
  }
  let restore: RestoreCheck | undefined;
  if (options.restore === true) {
    options.signal?.throwIfAborted();
    restore = await drillRestore(ctx, (line) =>
      options.progress?.(`${RESTORE_CHECK.name}: ${line}`),
    );
    options.progress?.(
      `${RESTORE_CHECK.name}: ${restore.passed ? 'passed' : 'missed its goal'} (RTO ${restore.rtoSeconds.toFixed(1)} s)`,
    );
  }
  return {
    lab: ctx.model.lab.name,
    startedAt: started.toISOString(),
    machine: `${os.hostname()}, ${os.cpus().length} cores, ${os.type()} ${os.release()}`,
    rows,
    ...(restore === undefined ? {} : { restore }),
    passed: rows.every((r) => r.passed) && restore?.passed !== false,
  };
}
