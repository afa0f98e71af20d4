/** h2load's command line (HTTP/2, many streams per connection) and what we read from its report. */
import type { Command } from '../src/drivers/driver.ts';
import type { WrkResult } from './wrk.ts';

export interface H2loadOptions {
  readonly seconds: number;
  readonly connections: number;
  /** Concurrent streams per connection. */
  readonly streams: number;
  readonly threads: number;
  readonly headers?: readonly string[];
}

export const h2load = (url: string, options: H2loadOptions): Command => ({
  argv: [
    'h2load',
    `--duration=${options.seconds}`,
    `--warm-up-time=1`,
    `--clients=${options.connections}`,
    `--max-concurrent-streams=${options.streams}`,
    `--threads=${options.threads}`,
    ...(options.headers ?? []).flatMap((h) => ['--header', h]),
    url,
  ],
  timeoutMs: (options.seconds + 30) * 1000,
});

function microseconds(value: string, unit: string): number {
  const n = Number(value);
  if (unit === 'ms') return n * 1000;
  if (unit === 's') return n * 1_000_000;
  return n;
}

/**
 * Throughput and errors from h2load's report; it gives no percentiles, so p50 and p99 hold its
 * mean and its maximum time for a request.
 */
export function parseH2load(output: string): WrkResult {
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(output);
  const requests =
    /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      output,
    );
  const time = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(
    output,
  );
  if (rps?.[1] === undefined || requests === null || time === null)
    throw new Error(`cannot read h2load's report:\n${output}`);
  // Done = succeeded (a 2xx or 3xx) + failed (any other status, or the stream failed).
  const [, , done = '0', succeeded = '0'] = requests;
  const [, , , max = '0', maxUnit = 'us', mean = '0', meanUnit = 'us'] = time;
  return {
    requestsPerSecond: Number(rps[1]),
    p50Ms: microseconds(mean, meanUnit) / 1000,
    p99Ms: microseconds(max, maxUnit) / 1000,
    requests: Number(done),
    errors: Number(done) - Number(succeeded),
  };
}
