/** wrk's command line and the numbers we read from its report. */
import type { Command } from '../src/drivers/driver.ts';

export interface WrkOptions {
  readonly seconds: number;
  readonly connections: number;
  readonly threads: number;
  /** Extra request headers ("Name: value"); `Connection: close` makes every request a new connection. */
  readonly headers?: readonly string[];
}

export const wrk = (url: string, options: WrkOptions): Command => ({
  argv: [
    'wrk',
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--latency',
    ...(options.headers ?? []).flatMap((h) => ['-H', h]),
    url,
  ],
  timeoutMs: (options.seconds + 30) * 1000,
});

export interface WrkResult {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** Non-2xx/3xx responses plus socket errors. */
  readonly errors: number;
  /** Which errors, when there were any ("read 2, timeout 1, non-2xx 3"). */
  readonly errorKinds?: string;
  /** The load balancer's CPU per completed request, when the bench measured it (bench/cpu.ts). */
  readonly cpuUsPerRequest?: number;
}

function milliseconds(value: string, unit: string): number {
  const n = Number(value);
  if (unit === 'us') return n / 1000;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  return n;
}

export function parseWrk(output: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(output);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(output);
  const total = /(\d+) requests in/.exec(output);
  if (rps?.[1] === undefined || p50 === null || p99 === null || total?.[1] === undefined) {
    throw new Error(`cannot read wrk's report:\n${output}`);
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const counts: [string, number][] = [
    ...['connect', 'read', 'write', 'timeout'].map((kind, i): [string, number] => [
      kind,
      Number(socket?.[i + 1] ?? 0),
    ]),
    ['non-2xx', Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0)],
  ];
  const kinds = counts.filter(([, n]) => n !== 0);
  return {
    requestsPerSecond: Number(rps[1]),
    p50Ms: milliseconds(p50[1] ?? '0', p50[2] ?? 'ms'),
    p99Ms: milliseconds(p99[1] ?? '0', p99[2] ?? 'ms'),
    requests: Number(total[1]),
    errors: kinds.reduce((sum, [, n]) => sum + n, 0),
    ...(kinds.length === 0
      ? {}
      : { errorKinds: kinds.map(([kind, n]) => `${kind} ${String(n)}`).join(', ') }),
  };
}
