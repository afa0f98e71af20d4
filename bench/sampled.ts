/**
 * Where a HAProxy's CPU time goes, kernel included: perf samples its processes every 250 µs of
 * their CPU time (the cpu-clock software event: this machine's virtual CPUs have no hardware
 * counters) while wrk loads it, and each sample is charged to the shared object and function it
 * landed in. Callgrind (bench/profile.ts) counts user-space instructions, exactly but not in time:
 * it does not see the kernel's share of a request (the sockets, the network stack of both ends of
 * a veth), and a `rep movsb` counts one instruction a byte. The samples put each part in
 * microseconds a request, bare against ours, in interleaved rounds.
 *
 * In a virtual machine the kernel's samples bunch where interrupts are enabled again
 * (finish_task_switch, _raw_spin_unlock_irqrestore): the kernel's total is right, its functions'
 * shares are not, so the table names user-space functions only.
 */
import path from 'node:path';
import { childPids } from '../src/probes/process.ts';
import { sleep } from '../src/lib/wait.ts';
import { readPid } from '../src/platform/lab/process.ts';
import type { Target } from '../src/drivers/driver.ts';
import type { Context } from '../src/steps/context.ts';
import { formatTable } from './compare.ts';
import type { WrkResult } from './wrk.ts';

/** CPU time between two samples, in nanoseconds (perf's `-c` for cpu-clock). */
export const SAMPLE_PERIOD_NS = 250_000;

/** perf's name for the kernel's shared object. */
export const KERNEL = '[kernel.kallsyms]';

/** Samples that landed in one function of one shared object. */
export interface SampleRow {
  readonly object: string;
  readonly symbol: string;
  readonly samples: number;
}

/**
 * The rows of `perf report --no-children -n --stdio --sort dso,sym`: "  3.27%  330  libc.so.6
 * [.] __memmove_avx512_unaligned_erms". Comment lines start with #; a symbol may hold spaces.
 */
export function parsePerfReport(text: string): SampleRow[] {
  const rows: SampleRow[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s+[\d.]+%\s+(\d+)\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$/.exec(line);
    if (match === null) continue;
    const [, samples = '0', object = '', symbol = ''] = match;
    rows.push({ object, symbol, samples: Number(samples) });
  }
  return rows;
}

/** One HAProxy's samples under one load, summed over the rounds. */
export interface Sampled {
  readonly name: string;
  /** Requests completed while perf sampled (wrk's rate times the seconds sampled). */
  readonly requests: number;
  readonly rows: readonly SampleRow[];
}

/** Adds `more` rows into `into` (by object and symbol). */
export function addRows(into: readonly SampleRow[], more: readonly SampleRow[]): SampleRow[] {
  const sum = new Map<string, SampleRow>();
  for (const row of [...into, ...more]) {
    const key = `${row.object}\0${row.symbol}`;
    const seen = sum.get(key);
    sum.set(key, { ...row, samples: (seen?.samples ?? 0) + row.samples });
  }
  return [...sum.values()];
}

/** Microseconds of CPU a request that `samples` samples over `requests` requests make. */
const usPerRequest = (samples: number, requests: number): number =>
  requests > 0 ? (samples * SAMPLE_PERIOD_NS) / 1000 / requests : 0;

/** Samples per key of `rows`. */
function totals(rows: readonly SampleRow[], key: (row: SampleRow) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const row of rows) out.set(key(row), (out.get(key(row)) ?? 0) + row.samples);
  return out;
}

/** Each shared object's microseconds a request, the largest first. */
export function byObject(sampled: Sampled): { object: string; us: number }[] {
  return [...totals(sampled.rows, (r) => r.object)]
    .map(([object, samples]) => ({ object, us: usPerRequest(samples, sampled.requests) }))
    .sort((a, b) => b.us - a.us);
}

/**
 * Two tables, `ours` against `bare`: microseconds a request in each shared object (the kernel, the
 * haproxy binary, OpenSSL, libc...), then the `top` user-space functions that grew the most.
 */
export function formatSampled(title: string, bare: Sampled, ours: Sampled, top = 15): string {
  const fmt = (n: number): string => n.toFixed(2);
  const objects = new Map<string, { bare: number; ours: number }>();
  for (const { object, us } of byObject(bare)) objects.set(object, { bare: us, ours: 0 });
  for (const { object, us } of byObject(ours))
    objects.set(object, { bare: objects.get(object)?.bare ?? 0, ours: us });
  const sum = (side: 'bare' | 'ours'): number =>
    [...objects.values()].reduce((a, o) => a + o[side], 0);
  const objectRows = [...objects]
    .filter(([, o]) => o.bare >= 0.05 || o.ours >= 0.05)
    .sort(([, a], [, b]) => b.ours - a.ours)
    .map(([object, o]) => [object, fmt(o.bare), fmt(o.ours), fmt(o.ours - o.bare)]);
  const key = (r: SampleRow): string => `${r.object} ${r.symbol}`;
  const user = (rows: readonly SampleRow[]) => rows.filter((r) => r.object !== KERNEL);
  const bareFns = totals(user(bare.rows), key);
  const oursFns = totals(user(ours.rows), key);
  const grew = [...new Set([...bareFns.keys(), ...oursFns.keys()])]
    .map((fn) => {
      const b = usPerRequest(bareFns.get(fn) ?? 0, bare.requests);
      const o = usPerRequest(oursFns.get(fn) ?? 0, ours.requests);
      return { fn, b, o };
    })
    .sort((x, y) => y.o - y.b - (x.o - x.b))
    .slice(0, top)
    .map(({ fn, b, o }) => [fn, fmt(b), fmt(o), fmt(o - b)]);
  return [
    title,
    '',
    formatTable(
      ['µs of CPU a request, in', bare.name, ours.name, 'difference'],
      [...objectRows, ['all', fmt(sum('bare')), fmt(sum('ours')), fmt(sum('ours') - sum('bare'))]],
    ),
    '',
    formatTable(
      [`the ${top} user-space functions that grew the most`, bare.name, ours.name, 'difference'],
      grew,
    ),
  ].join('\n');
}

/**
 * Samples the HAProxy of `pidFile` on `lb` (its master and workers) for `seconds` while `load`
 * runs, from 1.5 s into it (`load` must run steadily for as long, its rate the same throughout),
 * and returns the rows and the requests completed meanwhile (the load's rate times `seconds`).
 */
export async function sampleLoad(
  ctx: Context,
  lb: Target,
  pidFile: string,
  seconds: number,
  load: () => Promise<WrkResult>,
): Promise<{ rows: SampleRow[]; requests: number }> {
  const master = await readPid(ctx.driver, lb, pidFile);
  if (master === undefined) throw new Error(`no pid in ${pidFile}`);
  const pids = [master, ...(await childPids(ctx.driver, lb, master))];
  const data = path.join(path.dirname(pidFile), `perf-${path.basename(pidFile, '.pid')}.data`);
  const loaded = load();
  try {
    await sleep(1500);
    await ctx.driver.exec(lb, {
      argv: [
        'perf',
        'record',
        '--quiet',
        '-e',
        'cpu-clock',
        '-c',
        String(SAMPLE_PERIOD_NS),
        '-p',
        pids.join(','),
        '-o',
        data,
        '--',
        'sleep',
        String(seconds),
      ],
      timeoutMs: (seconds + 30) * 1000,
    });
    const report = await ctx.driver.exec(lb, {
      argv: ['perf', 'report', '-i', data, '--no-children', '-n', '--stdio', '--sort', 'dso,sym'],
      timeoutMs: 60_000,
    });
    const result = await loaded;
    return { rows: parsePerfReport(report.stdout), requests: result.requestsPerSecond * seconds };
  } finally {
    await loaded.catch(() => undefined);
    await ctx.driver.exec(lb, { argv: ['rm', '-f', data, `${data}.old`] }, { check: false });
  }
}
