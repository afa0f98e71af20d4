/**
 * Ours against a bare reference, in rounds interleaved in one run (ours, bare, ours, bare...), so
 * a machine that gets busier or quieter meanwhile weighs on both alike; each round's ratio is
 * kept, and the median and the spread are reported.
 */
import type { WrkResult } from './wrk.ts';

export interface Round {
  readonly ours: WrkResult;
  readonly bare: WrkResult;
  /** ours ÷ bare, requests per second. */
  readonly ratio: number;
  /** bare ÷ ours, the load balancer's CPU per request (above 1: ours spends less). */
  readonly cpuRatio?: number;
}

/** The CPU a request costs each side's load balancer (bench/cpu.ts), over the rounds. */
export interface CpuRatio {
  /** bare ÷ ours, microseconds of CPU per request: on the scale of the requests a second's ratio. */
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** The medians, microseconds per request. */
  readonly oursUs: number;
  readonly bareUs: number;
}

export interface Comparison {
  readonly name: string;
  /** What "bare" was for this comparison. */
  readonly reference: string;
  readonly goal?: number;
  readonly rounds: readonly Round[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** When both sides' load balancer CPU was measured in every round. */
  readonly cpu?: CpuRatio;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * One figure measured both ways in each round (with TLS and in clear text, say): each round's
 * ratio `a ÷ b`, their median and spread, and each side's median figure.
 */
export interface PairedRatio {
  readonly name: string;
  readonly ratios: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** The medians of each side. */
  readonly a: number;
  readonly b: number;
}

export function pairedRatio<R>(
  name: string,
  rounds: readonly R[],
  a: (round: R) => number,
  b: (round: R) => number,
): PairedRatio {
  const ratios = rounds.map((r) => a(r) / b(r));
  return {
    name,
    ratios,
    median: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    a: median(rounds.map(a)),
    b: median(rounds.map(b)),
  };
}

/**
 * `rounds` rounds of `a` and `b`, `b` first in every other round so neither always goes first:
 * each round's pair, `a`'s first.
 */
export async function alternate<T>(
  rounds: number,
  a: () => Promise<T>,
  b: () => Promise<T>,
): Promise<[T, T][]> {
  const done: [T, T][] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      const first = await a();
      done.push([first, await b()]);
    } else {
      const second = await b();
      done.push([await a(), second]);
    }
  }
  return done;
}

/**
 * A client's rounds, TLS against clear text: a warm-up of both (not counted, `warmUpSeconds`
 * each), then `settings.rounds` alternating rounds of `settings.seconds`; each round's pair, TLS
 * first.
 */
export async function warmThenAlternate<S extends { seconds: number; rounds: number }, F>(
  settings: S,
  warmUpSeconds: number,
  figures: (settings: S, tls: boolean) => Promise<F>,
): Promise<[F, F][]> {
  const warmUp = { ...settings, seconds: Math.min(warmUpSeconds, settings.seconds) };
  await figures(warmUp, true);
  await figures(warmUp, false);
  return alternate(
    settings.rounds,
    () => figures(settings, true),
    () => figures(settings, false),
  );
}

/** Runs `rounds` rounds of ours and bare, alternating which goes first. */
export async function compare(
  name: string,
  reference: string,
  rounds: number,
  ours: () => Promise<WrkResult>,
  bare: () => Promise<WrkResult>,
  goal?: number,
): Promise<Comparison> {
  const done: Round[] = (await alternate(rounds, ours, bare)).map(([o, b]) => ({
    ours: o,
    bare: b,
    ratio: o.requestsPerSecond / b.requestsPerSecond,
    ...(o.cpuUsPerRequest === undefined || b.cpuUsPerRequest === undefined
      ? {}
      : { cpuRatio: b.cpuUsPerRequest / o.cpuUsPerRequest }),
  }));
  const ratios = done.map((r) => r.ratio);
  const cpu = cpuRatio(done);
  return {
    name,
    reference,
    ...(goal === undefined ? {} : { goal }),
    rounds: done,
    median: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    ...(cpu === undefined ? {} : { cpu }),
  };
}

/** The rounds' CPU ratios, when every round has one. */
export function cpuRatio(rounds: readonly Round[]): CpuRatio | undefined {
  const ratios = rounds.flatMap((r) => (r.cpuRatio === undefined ? [] : [r.cpuRatio]));
  if (ratios.length === 0 || ratios.length < rounds.length) return undefined;
  return {
    median: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    oursUs: median(rounds.map((r) => r.ours.cpuUsPerRequest ?? Number.NaN)),
    bareUs: median(rounds.map((r) => r.bare.cpuUsPerRequest ?? Number.NaN)),
  };
}

/** One line per comparison: the median requests per second of each side and the ratio's spread. */
export function comparisonTable(comparisons: readonly Comparison[]): string {
  const header = [
    'path',
    'ours req/s',
    'bare req/s',
    'ratio (median)',
    'spread',
    'goal',
    'errors',
    'LB CPU µs/req ours/bare',
    'CPU bare÷ours (spread)',
  ];
  const body = comparisons.map((c) => [
    c.name,
    median(c.rounds.map((r) => r.ours.requestsPerSecond)).toFixed(0),
    median(c.rounds.map((r) => r.bare.requestsPerSecond)).toFixed(0),
    c.median.toFixed(2),
    `${c.min.toFixed(2)}-${c.max.toFixed(2)}`,
    c.goal === undefined ? '' : `≥ ${c.goal} ${c.median >= c.goal ? 'met' : 'NOT met'}`,
    String(c.rounds.reduce((sum, r) => sum + r.ours.errors + r.bare.errors, 0)),
    c.cpu === undefined ? '' : `${c.cpu.oursUs.toFixed(1)}/${c.cpu.bareUs.toFixed(1)}`,
    c.cpu === undefined
      ? ''
      : `${c.cpu.median.toFixed(2)} (${c.cpu.min.toFixed(2)}-${c.cpu.max.toFixed(2)})`,
  ]);
  return formatTable(header, body);
}

export function formatTable(
  header: readonly string[],
  body: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
