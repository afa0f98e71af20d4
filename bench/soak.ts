/**
 * The soak (`BENCH_PARTS=soak`): the lab under a steady, moderate load for an hour
 * (BENCH_SOAK_MINUTES), its memory sampled every few minutes, and its growth from the first
 * sample (after a warm-up of the same load, BENCH_SOAK_WARMUP_MINUTES, 20 by default: the apps'
 * V8 heaps settle in 20-30 minutes, and first-touch allocation and JIT are behind) to the last,
 * in total and per kind of daemon, both PSS and USS (bench/memory.ts). Issue 14's goal: at most
 * 10% over the hour, judged on that growth of the site's total (the load generator left out),
 * PSS and USS both.
 *
 * The load is browsers at a fixed rate, not wrk at full speed, so it measures growth, not
 * saturation, and leaves the shared machine room: from the lab's client host, through DNS and the
 * load balancers, pages, their static files and guestbook reads (`pageVisitors` of each, a request
 * every `pageIntervalMs` each) and guestbook writes (`writeVisitors`, one every `writeIntervalMs`
 * each), every second visitor on a new connection each time and the others kept alive. The
 * visitors (src/load/visitors.ts) are bounded to ten minutes per run, so the load is a chain of
 * runs of `chunkSeconds`. Afterwards every acknowledged write is looked for on the primary.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { startVisitors, staticPaths, type RunningVisitors } from '../src/drill/load.ts';
import { auditWrites, storedMessages, type WriteAudit } from '../src/drill/writes.ts';
import {
  succeeded,
  summarizeVisits,
  VISIT_KINDS,
  type AckedMessage,
  type VisitFailure,
  type VisitKind,
  type VisitSummary,
} from '../src/load/visits.ts';
import type { Context } from '../src/steps/context.ts';
import { readDbState } from '../src/steps/db/state.ts';
import { formatTable } from './compare.ts';
import { labMemory, memoryOf, type Memory } from './memory.ts';

export interface SoakOptions {
  /** Measured span, after the warm-up. */
  readonly minutes: number;
  readonly warmupMinutes: number;
  /** The lab's memory is sampled this often (and at the end). */
  readonly sampleMinutes: number;
  /** Visitors of each of page, static file and guestbook read, and how often each asks. */
  readonly pageVisitors: number;
  readonly pageIntervalMs: number;
  /** Guestbook writers, and how often each writes. */
  readonly writeVisitors: number;
  readonly writeIntervalMs: number;
  /** Each run of the visitors lasts this long (at most 600 s, their bound). */
  readonly chunkSeconds: number;
}

export function soakOptions(env: NodeJS.ProcessEnv): SoakOptions {
  return {
    minutes: Number(env.BENCH_SOAK_MINUTES ?? 60),
    warmupMinutes: Number(env.BENCH_SOAK_WARMUP_MINUTES ?? 20),
    sampleMinutes: Number(env.BENCH_SOAK_SAMPLE_MINUTES ?? 5),
    // 4 visitors × 5/s: 20 pages, 20 static files and 20 reads a second.
    pageVisitors: 4,
    pageIntervalMs: 200,
    // 2 writers × 2.5/s: 5 writes a second.
    writeVisitors: 2,
    writeIntervalMs: 400,
    chunkSeconds: 300,
  };
}

/** The load generator runs in the lab (on client): its memory is the bench's, not the site's. */
export const LOAD_GENERATOR_KIND = 'load generator (node)';

export interface SoakSample {
  readonly at: string;
  /** Minutes since the end of the warm-up. */
  readonly minute: number;
  /** This machine's load average (1, 5, 15 minutes) when the sample was taken. */
  readonly loadAverage: readonly number[];
  readonly memory: Memory;
}

/** What visitors did, counted. */
export interface LoadCounts {
  readonly requests: number;
  readonly failed: number;
  /** Kind → requests and successes. */
  readonly kinds: Readonly<Record<string, { readonly requests: number; readonly ok: number }>>;
  /** Kind and status (of failures) or error code → count. */
  readonly failures: Readonly<Record<string, number>>;
  /** Safe requests sent again after a kept-alive connection closed under them (a browser's). */
  readonly resent: number;
  /** The first failures one by one (at most FAILURES_KEPT): when, and on what connection. */
  readonly firstFailures: readonly VisitFailure[];
  readonly writesAcked: number;
}

/** How many failures the soak keeps one by one. */
const FAILURES_KEPT = 50;

/** One run of the visitors. */
export interface SoakChunk extends LoadCounts {
  readonly startedAt: number;
  readonly endedAt: number;
}

/** The runs added up. */
export interface LoadTotals extends LoadCounts {
  readonly seconds: number;
  readonly requestsPerSecond: number;
}

/** One figure (PSS or USS) from the first sample to the last. */
export interface Growth {
  readonly startMb: number;
  readonly endMb: number;
  readonly growthMb: number;
  /** null when the kind was absent at the start. */
  readonly growthPct: number | null;
}

export interface KindGrowth {
  readonly kind: string;
  readonly pss: Growth;
  readonly uss: Growth;
}

/** Issue 14's goal: at most this growth (%) over the hour. */
export const GOAL_PCT = 10;

export interface SoakGrowth {
  readonly minutes: number;
  /** The site's total (the load generator left out): what the goal is judged on. */
  readonly pss: Growth;
  readonly uss: Growth;
  /** Both PSS and USS grew by GOAL_PCT at most. */
  readonly met: boolean;
  /** The largest PSS growth (MB) first. */
  readonly kinds: readonly KindGrowth[];
}

/** A sample's memory without the load generator's processes. */
export function siteMemory(memory: Memory): Memory {
  return memoryOf(Object.entries(memory.byKind).filter(([kind]) => kind !== LOAD_GENERATOR_KIND));
}

function growth(startMb: number, endMb: number): Growth {
  return {
    startMb,
    endMb,
    growthMb: endMb - startMb,
    growthPct: startMb > 0 ? ((endMb - startMb) / startMb) * 100 : null,
  };
}

const withinGoal = (g: Growth): boolean => g.growthPct !== null && g.growthPct <= GOAL_PCT;

/** Growth from the first sample (after the warm-up) to the last, the load generator left out. */
export function soakGrowth(samples: readonly SoakSample[]): SoakGrowth {
  const [first, last] = [samples[0], samples.at(-1)];
  if (first === undefined || last === undefined) throw new Error('no memory sample');
  const [start, end] = [siteMemory(first.memory), siteMemory(last.memory)];
  const names = [...new Set([...Object.keys(start.byKind), ...Object.keys(end.byKind)])];
  const kinds = names.map((kind) => {
    const [from, to] = [start.byKind[kind], end.byKind[kind]];
    return {
      kind,
      pss: growth(from?.mb ?? 0, to?.mb ?? 0),
      uss: growth(from?.ussMb ?? 0, to?.ussMb ?? 0),
    };
  });
  const pss = growth(start.totalMb, end.totalMb);
  const uss = growth(start.ussMb, end.ussMb);
  return {
    minutes: last.minute - first.minute,
    pss,
    uss,
    met: withinGoal(pss) && withinGoal(uss),
    kinds: kinds.sort((a, b) => b.pss.growthMb - a.pss.growthMb),
  };
}

/** What one run of the visitors did, without its records. */
export function chunkOf(summary: VisitSummary, writesAcked: number): SoakChunk {
  const kinds: Record<string, { requests: number; ok: number }> = {};
  const failures: Record<string, number> = {};
  for (const kind of VISIT_KINDS) {
    const counts = summary.kinds[kind];
    if (counts.requests === 0) continue;
    kinds[kind] = { requests: counts.requests, ok: counts.ok };
    for (const [status, n] of Object.entries(counts.statuses))
      if (!succeeded({ kind, status: Number(status) })) add(failures, `${kind} ${status}`, n);
    for (const [code, n] of Object.entries(counts.errors)) add(failures, `${kind} ${code}`, n);
  }
  return {
    startedAt: summary.startedAt,
    endedAt: summary.endedAt,
    requests: summary.requests,
    failed: summary.failed,
    kinds,
    failures,
    resent: summary.resent,
    firstFailures: summary.failures.slice(0, FAILURES_KEPT),
    writesAcked,
  };
}

function add(counts: Record<string, number>, key: string, n: number): void {
  counts[key] = (counts[key] ?? 0) + n;
}

/** The chunks added up; the rate over the time they ran. */
export function loadTotals(chunks: readonly SoakChunk[]): LoadTotals {
  const kinds: Record<string, { requests: number; ok: number }> = {};
  const failures: Record<string, number> = {};
  let [requests, failed, writesAcked, ms, resent] = [0, 0, 0, 0, 0];
  for (const chunk of chunks) {
    requests += chunk.requests;
    resent += chunk.resent;
    failed += chunk.failed;
    writesAcked += chunk.writesAcked;
    ms += chunk.endedAt - chunk.startedAt;
    for (const [kind, k] of Object.entries(chunk.kinds)) {
      const sum = kinds[kind] ?? { requests: 0, ok: 0 };
      kinds[kind] = { requests: sum.requests + k.requests, ok: sum.ok + k.ok };
    }
    for (const [key, n] of Object.entries(chunk.failures)) add(failures, key, n);
  }
  const firstFailures = chunks.flatMap((c) => c.firstFailures).slice(0, FAILURES_KEPT);
  const seconds = ms / 1000;
  return {
    seconds,
    requests,
    failed,
    requestsPerSecond: seconds > 0 ? requests / seconds : 0,
    kinds,
    failures,
    resent,
    firstFailures,
    writesAcked,
  };
}

/**
 * One failure as the soak prints it: when (UTC), what, and for an error on a reused kept-alive
 * connection, how long that connection had been idle (against the servers' keep-alive timeouts).
 */
export function describeFailure(f: VisitFailure): string {
  const at = new Date(f.at).toISOString().slice(11, 23);
  const idle =
    f.idleMs === undefined ? '' : ` on a kept-alive connection idle for ${f.idleMs} ms before it`;
  return `${at} ${f.kind} ${f.answer}${idle}`;
}

const mb = (n: number): string => n.toFixed(1);
const signed = (n: number, digits: number): string => `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;
const percent = (g: Growth): string => (g.growthPct === null ? 'new' : signed(g.growthPct, 1));
/** start, end, growth MB, growth % of one figure. */
const growthCells = (g: Growth): string[] => [
  mb(g.startMb),
  mb(g.endMb),
  signed(g.growthMb, 1),
  percent(g),
];

/** The soak's tables: the samples over time, then the growth per kind, then the load. */
export function formatSoak(
  samples: readonly SoakSample[],
  load: LoadTotals,
  audit: WriteAudit,
  stored: number,
): string {
  const growth = soakGrowth(samples);
  const overTime = formatTable(
    ['minute', 'lab MB (PSS)', 'lab MB (USS)', 'load generator MB (PSS)', 'load average 1/5/15'],
    samples.map((s) => [
      s.minute.toFixed(1),
      mb(siteMemory(s.memory).totalMb),
      mb(siteMemory(s.memory).ussMb),
      mb(s.memory.byKind[LOAD_GENERATOR_KIND]?.mb ?? 0),
      s.loadAverage.map((l) => l.toFixed(2)).join(' '),
    ]),
  );
  const kinds = formatTable(
    [
      'kind',
      'PSS start MB',
      'PSS end MB',
      'PSS growth MB',
      'PSS growth %',
      'USS start MB',
      'USS end MB',
      'USS growth MB',
      'USS growth %',
    ],
    [
      ...growth.kinds.map((k) => [k.kind, ...growthCells(k.pss), ...growthCells(k.uss)]),
      ['total', ...growthCells(growth.pss), ...growthCells(growth.uss)],
    ],
  );
  const byKind = Object.entries(load.kinds)
    .map(([kind, k]) => `${kind} ${k.requests} (${k.requests - k.ok} failed)`)
    .join(', ');
  const failures = Object.entries(load.failures)
    .map(([key, n]) => `${key}: ${n}`)
    .join(', ');
  return [
    `soak: lab memory over ${growth.minutes.toFixed(1)} minutes of steady load, after the warm-up`,
    overTime,
    kinds,
    `memory growth from the first sample after the warm-up to the last, the site's total (load generator left out): PSS ${percent(growth.pss)}%, USS ${percent(growth.uss)}% (goal ≤ ${GOAL_PCT}% on both: ${growth.met ? 'met' : 'NOT met'})`,
    `load: ${load.requests} requests in ${(load.seconds / 60).toFixed(1)} min (${load.requestsPerSecond.toFixed(1)}/s, warm-up included), ${load.failed} failed; ${byKind}${failures === '' ? '' : `; failures: ${failures}`}; ${load.resent} sent again on a new connection after the server closed the kept-alive one under them (as a browser does)`,
    ...(load.firstFailures.length === 0
      ? []
      : [`failures one by one: ${load.firstFailures.map(describeFailure).join('; ')}`]),
    `writes: ${audit.acked} acknowledged, ${stored} rows on the primary, ${audit.lost.length} lost, ${audit.duplicated.length} duplicated`,
  ].join('\n\n');
}

export interface SoakResult {
  readonly options: SoakOptions;
  readonly samples: readonly SoakSample[];
  readonly chunks: readonly SoakChunk[];
  readonly load: LoadTotals;
  readonly growth: SoakGrowth;
  readonly writes: WriteAudit & { readonly stored: number };
  /** Visitor runs whose report could not be read (their requests are not counted). */
  readonly runErrors: readonly string[];
  readonly table: string;
}

/** How far from the start and the end of a visitors' run the memory is sampled. */
const STEADY_MS = 30_000;

/** The steady load as a chain of visitor runs, until `stop()`. */
function steadyLoad(
  ctx: Context,
  options: SoakOptions,
  statics: readonly string[],
  prefix: string,
  say: (line: string) => void,
) {
  const chunks: SoakChunk[] = [];
  const acked: AckedMessage[] = [];
  const runErrors: string[] = [];
  let current: RunningVisitors[] = [];
  let currentSince = Date.now();
  const state = { stopping: false };
  const common = {
    seconds: options.chunkSeconds,
    connections: 'mixed',
    timeoutMs: 10_000,
  } as const;
  let firstReady: Promise<unknown> | undefined;
  const running = (async () => {
    for (let n = 0; !state.stopping; n++) {
      const pages = startVisitors(ctx, {
        ...common,
        prefix: `${prefix}-p${n}`,
        kinds: ['page', 'static', 'read'] satisfies VisitKind[],
        statics,
        visitors: options.pageVisitors,
        intervalMs: options.pageIntervalMs,
      });
      const writes = startVisitors(ctx, {
        ...common,
        prefix: `${prefix}-w${n}`,
        kinds: ['write'],
        visitors: options.writeVisitors,
        intervalMs: options.writeIntervalMs,
      });
      current = [pages, writes];
      currentSince = Date.now();
      firstReady ??= Promise.all([pages.ready(60_000), writes.ready(60_000)]);
      let p, w;
      try {
        [p, w] = await Promise.all([pages.report, writes.report]);
      } catch (error) {
        // One run that failed (its report unreadable) does not end an hour's soak: said, kept.
        runErrors.push(`run ${n + 1}: ${String(error).slice(0, 500)}`);
        say(`soak: visitors run ${n + 1} failed: ${String(error).slice(0, 200)}`);
        await Promise.allSettled([pages.report, writes.report]);
        await sleep(5000);
        continue;
      }
      acked.push(...w.acked.map(({ text, id }) => ({ text, id })));
      const summary = summarizeVisits({
        startedAt: Math.min(p.startedAt, w.startedAt),
        endedAt: Math.max(p.endedAt, w.endedAt),
        visits: [...p.visits, ...w.visits],
        acked: w.acked,
      });
      const chunk = chunkOf(summary, w.acked.length);
      chunks.push(chunk);
      say(
        `soak: visitors run ${n + 1}: ${chunk.requests} requests, ${chunk.failed} failed, ${chunk.writesAcked} writes acknowledged`,
      );
    }
  })();
  running.catch(() => undefined);
  return {
    /**
     * Resolves once the current run has run and has still to run `STEADY_MS` at least: the
     * visitors' own Node processes share pages with the lab's (PSS divides them among their
     * sharers), so a sample is taken with them up and running, never between two runs.
     */
    async steady(): Promise<void> {
      for (;;) {
        const age = Date.now() - currentSince;
        if (age >= STEADY_MS && options.chunkSeconds * 1000 - age >= STEADY_MS) return;
        await sleep(1000);
      }
    },
    ready: async (): Promise<void> => {
      while (firstReady === undefined) await sleep(50);
      await firstReady;
    },
    async stop() {
      state.stopping = true;
      await Promise.all(current.map((v) => v.stop()));
      await running;
      return { chunks, acked, runErrors };
    },
  };
}

/** The soak on a lab that is up; `say` tells its progress. */
export async function soak(
  ctx: Context,
  options: SoakOptions,
  say: (line: string) => void,
): Promise<SoakResult> {
  const prefix = `soak-${process.pid}-${Date.now()}`;
  const load = steadyLoad(ctx, options, await staticPaths(ctx), prefix, say);
  let loadResult;
  const samples: SoakSample[] = [];
  try {
    await load.ready();
    say(`soak: load running; warm-up ${options.warmupMinutes} min`);
    await sleep(options.warmupMinutes * 60_000);
    // The span runs from the first sample, taken with the load steady, to the last.
    let start: number | undefined;
    let end = Infinity;
    for (let next = Date.now(); ; next = Math.min(end, next + options.sampleMinutes * 60_000)) {
      await sleep(Math.max(0, next - Date.now()));
      await load.steady();
      const memory = await labMemory(ctx);
      const at = Date.now();
      if (start === undefined) {
        [start, end, next] = [at, at + options.minutes * 60_000, at];
      }
      const minute = (at - start) / 60_000;
      samples.push({ at: new Date(at).toISOString(), minute, loadAverage: os.loadavg(), memory });
      say(
        `soak: minute ${minute.toFixed(1)}: PSS ${siteMemory(memory).totalMb.toFixed(0)} MB, USS ${siteMemory(memory).ussMb.toFixed(0)} MB, load average ${os.loadavg()[0]?.toFixed(2) ?? '?'}`,
      );
      if (next >= end) break;
    }
  } finally {
    loadResult = await load.stop();
  }
  const rows = await storedMessages(ctx, (await readDbState(ctx)).primary, prefix);
  const audit = auditWrites(loadResult.acked, rows);
  const totals = loadTotals(loadResult.chunks);
  return {
    options,
    samples,
    chunks: loadResult.chunks,
    load: totals,
    growth: soakGrowth(samples),
    writes: { ...audit, stored: rows.length },
    runErrors: loadResult.runErrors,
    table: [
      formatSoak(samples, totals, audit, rows.length),
      ...loadResult.runErrors.map((e) => `visitors ${e}`),
    ].join('\n\n'),
  };
}
