/**
 * How long the commands take as an operator runs them, hyperfine-style: each command several
 * times, min/median/max of the wall time. `up` with nothing to do, `status`, a deploy to the
 * web servers while wrk loads the site from the client host, and a cold `up`: `down`, then `up`
 * (the packages, releases and data are still there; every daemon and namespace is new).
 *
 *   node bench/commands.ts --config foobar.yaml [--runs 5] [--cold-runs 3]   (as root, on a lab that is up)
 *
 * `npm run bench` runs it on its own lab too. It leaves the lab up, as it found it.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runProcess } from '../src/drivers/process.ts';
import { loadModel } from '../src/model/load.ts';
import { siteUrl } from '../src/probes/site.ts';
import { createContext } from '../src/steps/context.ts';
import { appVariant, removeAppVariants } from '../test/support/apps.ts';
import { wrk } from './wrk.ts';

const CLI = path.resolve(import.meta.dirname, '../bin/foobar.js');

export interface CommandTiming {
  readonly command: string;
  readonly runs: readonly number[];
  readonly min: number;
  readonly median: number;
  readonly max: number;
  /** The machine's 1-minute load average before the first run and after the last. */
  readonly load: readonly [number, number];
  /** What each run printed about itself (a cold `up`: its time and slowest phases). */
  readonly notes?: readonly string[];
  /** The seconds of a run before the timed ones, not counted (hyperfine's `--warmup`). */
  readonly warmup?: number;
}

function summary(
  command: string,
  runs: readonly number[],
  loadBefore: number,
  { notes, warmup }: { notes?: readonly string[]; warmup?: number } = {},
): CommandTiming {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] ?? 0)
      : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return {
    command,
    runs,
    min: sorted[0] ?? 0,
    median,
    max: sorted.at(-1) ?? 0,
    load: [loadBefore, load()],
    ...(notes === undefined ? {} : { notes }),
    ...(warmup === undefined ? {} : { warmup }),
  };
}

/** This machine's 1-minute load average: the commands' times follow it. */
function load(): number {
  return os.loadavg()[0] ?? 0;
}

interface Timed {
  readonly seconds: number;
  readonly stdout: string;
}

async function timed(configFile: string, args: readonly string[]): Promise<Timed> {
  const started = performance.now();
  const result = await runProcess([process.execPath, CLI, '--config', configFile, ...args], {
    env: { ...process.env, NO_COLOR: '1' },
  });
  const seconds = (performance.now() - started) / 1000;
  // status exits 1 when degraded: a timing still, but say so, and why.
  if (result.exitCode !== 0) {
    const why = `${result.stderr}\n${result.stdout}`
      .split('\n')
      .filter((line) => /✖|●.*(not running|down|fail)|error/i.test(line))
      .slice(0, 5)
      .map((line) => `\n  ${line.trim()}`)
      .join('');
    process.stderr.write(`bench: foobar ${args.join(' ')} exited ${result.exitCode}${why}\n`);
  }
  return { seconds, stdout: result.stdout };
}

/** The line `foobar up` ends with: its time and its slowest phases. */
export function upSummary(stdout: string): string | undefined {
  return stdout
    .split('\n')
    .find((line) => line.startsWith('up: '))
    ?.slice('up: '.length);
}

export function formatTimings(timings: readonly CommandTiming[]): string {
  const rows = timings.map(
    (t) =>
      `${t.command.padEnd(34)} ${t.min.toFixed(2).padStart(6)} ${t.median.toFixed(2).padStart(7)} ${t.max.toFixed(2).padStart(6)}  (${t.runs.length} runs, load average ${t.load[0].toFixed(1)} → ${t.load[1].toFixed(1)})`,
  );
  return [
    `${'command'.padEnd(34)} ${'min s'.padStart(6)} ${'median'.padStart(7)} ${'max s'.padStart(6)}`,
    ...rows,
    ...timings.flatMap((t) => [
      ...(t.warmup === undefined
        ? []
        : [`${t.command}, a first run before these, not counted: ${t.warmup.toFixed(2)} s`]),
      ...(t.notes ?? []).map((note, i) => `${t.command}, run ${i + 1}: ${note}`),
    ]),
  ].join('\n');
}

/**
 * Each command `runs` times (a cold `up`, `coldRuns` times); deploys alternate between two
 * builds so that each one changes.
 */
export async function measureCommands(
  configFile: string,
  runs: number,
  coldRuns = 3,
): Promise<CommandTiming[]> {
  const ctx = createContext(loadModel(configFile));
  const timings: CommandTiming[] = [];
  // As hyperfine's --warmup: the first command of a new checkout builds the command line's bundle
  // and Node's compile cache (bin/foobar.js), a second or so once per version of the sources,
  // which the bench's first command always paid. It is printed, not counted.
  const warmup = (await timed(configFile, ['up'])).seconds;
  for (const [name, args] of [
    ['up (nothing to do)', ['up']],
    ['status', ['status']],
  ] as const) {
    const seconds: number[] = [];
    const before = load();
    for (let i = 0; i < runs; i++) seconds.push((await timed(configFile, args)).seconds);
    timings.push(
      summary(`foobar ${name}`, seconds, before, args[0] === 'up' ? { warmup } : undefined),
    );
  }
  const variants = [appVariant('commands-a'), appVariant('commands-b')];
  try {
    const seconds: number[] = [];
    const before = load();
    for (let i = 0; i < runs; i++) {
      // Load from the client for longer than a deploy takes: HTTPS through the load balancers.
      const wrkLoad = ctx.driver.exec(
        'client',
        wrk(siteUrl(ctx.model), { seconds: 12, connections: 16, threads: 1 }),
        { check: false },
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      seconds.push((await timed(configFile, ['deploy', '--from', variants[i % 2] ?? ''])).seconds);
      await wrkLoad;
    }
    timings.push(summary('foobar deploy (under wrk load)', seconds, before));
  } finally {
    removeAppVariants();
  }
  // Last, since it ends as it began (the lab up): every daemon and namespace made again, with
  // the packages, the releases and the data left by `down`.
  const cold: number[] = [];
  const slowest: string[] = [];
  const before = load();
  for (let i = 0; i < coldRuns; i++) {
    await timed(configFile, ['down']);
    const up = await timed(configFile, ['up']);
    cold.push(up.seconds);
    slowest.push(upSummary(up.stdout) ?? '(no summary)');
  }
  if (coldRuns > 0)
    timings.push(summary('foobar up (cold, packages present)', cold, before, { notes: slowest }));
  return timings;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      runs: { type: 'string', default: '5' },
      'cold-runs': { type: 'string', default: '3' },
    },
  });
  if (values.config === undefined)
    throw new Error('usage: bench/commands.ts --config FILE [--runs N] [--cold-runs N]');
  const timings = await measureCommands(
    values.config,
    Number(values.runs),
    Number(values['cold-runs']),
  );
  process.stdout.write(`${formatTimings(timings)}\n`);
}
