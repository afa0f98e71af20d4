/**
 * What a request costs the load balancer itself: the CPU time (user + system) a HAProxy's
 * processes spent during a run, divided by the requests the run completed. Requests a second
 * swing with whatever else this shared machine runs; the CPU a request costs HAProxy moves far
 * less, so it says steadily how much more ours spends than a bare one (bench/features.ts: which
 * feature spends it).
 */
import { execFileSync } from 'node:child_process';
import type { Target } from '../src/drivers/driver.ts';
import { childPids } from '../src/probes/process.ts';
import type { Context } from '../src/steps/context.ts';
import { readPid } from '../src/platform/lab/process.ts';
import type { WrkResult } from './wrk.ts';

/** Clock ticks a second, the unit of /proc/PID/stat's times. */
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime + stime, in clock ticks, from a /proc/PID/stat line (after the command's parentheses). */
export function statTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of the line; the ones after ")" start at field 3.
  return Number(fields[11] ?? Number.NaN) + Number(fields[12] ?? Number.NaN);
}

/** The CPU seconds so far of the master whose pid is in `pidFile` and of its workers. */
async function cpuSeconds(ctx: Context, host: Target, pidFile: string): Promise<number> {
  const master = await readPid(ctx.driver, host, pidFile);
  if (master === undefined) throw new Error(`no pid in ${pidFile}`);
  const pids = [master, ...(await childPids(ctx.driver, host, master))];
  let ticks = 0;
  for (const pid of pids) {
    const stat = await ctx.driver.readFile(host, `/proc/${pid}/stat`);
    if (stat !== undefined) ticks += statTicks(stat);
  }
  return ticks / TICKS;
}

/** `run`'s result with the microseconds of CPU the HAProxy of `pidFile` spent per request. */
export async function withCpu(
  ctx: Context,
  host: Target,
  pidFile: string,
  run: () => Promise<WrkResult>,
): Promise<WrkResult> {
  const before = await cpuSeconds(ctx, host, pidFile);
  const result = await run();
  const spent = (await cpuSeconds(ctx, host, pidFile)) - before;
  return result.requests > 0
    ? { ...result, cpuUsPerRequest: (spent * 1e6) / result.requests }
    : result;
}
