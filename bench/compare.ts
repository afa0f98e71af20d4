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
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Runs `rounds` rounds of ours then bare (bare first in every other round, so neither always goes first). */
export async function compare(
  name: string,
  reference: string,
  rounds: number,
  ours: () => Promise<WrkResult>,
  bare: () => Promise<WrkResult>,
  goal?: number,
): Promise<Comparison> {
  const done: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    let o: WrkResult;
    let b: WrkResult;
    if (i % 2 === 0) {
      o = await ours();
      b = await bare();
    } else {
      b = await bare();
      o = await ours();
    }
    done.push({ ours: o, bare: b, ratio: o.requestsPerSecond / b.requestsPerSecond });
  }
  const ratios = done.map((r) => r.ratio);
  return {
    name,
    reference,
    ...(goal === undefined ? {} : { goal }),
    rounds: done,
    median: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
  };
}

/** One line per comparison: the median requests per second of each side and the ratio's spread. */
export function comparisonTable(comparisons: readonly Comparison[]): string {
  const header = ['path', 'ours req/s', 'bare req/s', 'ratio (median)', 'spread', 'goal', 'errors'];
  const body = comparisons.map((c) => [
    c.name,
    median(c.rounds.map((r) => r.ours.requestsPerSecond)).toFixed(0),
    median(c.rounds.map((r) => r.bare.requestsPerSecond)).toFixed(0),
    c.median.toFixed(2),
    `${c.min.toFixed(2)}-${c.max.toFixed(2)}`,
    c.goal === undefined ? '' : `≥ ${c.goal} ${c.median >= c.goal ? 'met' : 'NOT met'}`,
    String(c.rounds.reduce((sum, r) => sum + r.ours.errors + r.bare.errors, 0)),
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
