/**
 * How long the commands take as an operator runs them, hyperfine-style: each command several
 * times, min/median/max of the wall time. `up` with nothing to do, `status`, and a deploy to the
 * web servers while wrk loads the site from the client host.
 *
 *   node bench/commands.ts --config foobar.yaml [--runs 5]     (as root, on a lab that is up)
 *
 * `npm run bench` runs it on its own lab too. It never brings a lab up or down.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runProcess } from '../src/drivers/process.ts';
import { loadModel } from '../src/model/load.ts';
import { siteUrl } from '../src/probes/site.ts';
import { createContext } from '../src/steps/context.ts';
import { appVariant, removeAppVariants } from '../test/support/apps.ts';
import { wrk } from './wrk.ts';

const CLI = path.resolve(import.meta.dirname, '../bin/foobar.ts');

export interface CommandTiming {
  readonly command: string;
  readonly runs: readonly number[];
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

function summary(command: string, runs: readonly number[]): CommandTiming {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] ?? 0)
      : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { command, runs, min: sorted[0] ?? 0, median, max: sorted.at(-1) ?? 0 };
}

async function timed(configFile: string, args: readonly string[]): Promise<number> {
  const started = performance.now();
  const result = await runProcess([process.execPath, CLI, '--config', configFile, ...args], {
    env: { ...process.env, NO_COLOR: '1' },
  });
  const seconds = (performance.now() - started) / 1000;
  // status exits 1 when degraded: a timing still, but say so.
  if (result.exitCode !== 0)
    process.stderr.write(`bench: foobar ${args.join(' ')} exited ${result.exitCode}\n`);
  return seconds;
}

export function formatTimings(timings: readonly CommandTiming[]): string {
  const rows = timings.map(
    (t) =>
      `${t.command.padEnd(34)} ${t.min.toFixed(2).padStart(6)} ${t.median.toFixed(2).padStart(7)} ${t.max.toFixed(2).padStart(6)}  (${t.runs.length} runs)`,
  );
  return [
    `${'command'.padEnd(34)} ${'min s'.padStart(6)} ${'median'.padStart(7)} ${'max s'.padStart(6)}`,
    ...rows,
  ].join('\n');
}

/** Each command `runs` times; deploys alternate between two builds so that each one changes. */
export async function measureCommands(configFile: string, runs: number): Promise<CommandTiming[]> {
  const ctx = createContext(loadModel(configFile));
  const timings: CommandTiming[] = [];
  for (const [name, args] of [
    ['up (nothing to do)', ['up']],
    ['status', ['status']],
  ] as const) {
    const seconds: number[] = [];
    for (let i = 0; i < runs; i++) seconds.push(await timed(configFile, args));
    timings.push(summary(`foobar ${name}`, seconds));
  }
  const variants = [appVariant('commands-a'), appVariant('commands-b')];
  try {
    const seconds: number[] = [];
    for (let i = 0; i < runs; i++) {
      // Load from the client for longer than a deploy takes: HTTPS through the load balancers.
      const load = ctx.driver.exec(
        'client',
        wrk(siteUrl(ctx.model), { seconds: 12, connections: 16, threads: 1 }),
        { check: false },
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      seconds.push(await timed(configFile, ['deploy', '--from', variants[i % 2] ?? '']));
      await load;
    }
    timings.push(summary('foobar deploy (under wrk load)', seconds));
  } finally {
    removeAppVariants();
  }
  return timings;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, runs: { type: 'string', default: '5' } },
  });
  if (values.config === undefined)
    throw new Error('usage: bench/commands.ts --config FILE [--runs N]');
  process.stdout.write(
    `${formatTimings(await measureCommands(values.config, Number(values.runs)))}\n`,
  );
}
