/**
 * Returning visitors' connections: OpenSSL's `s_time`, several processes at once, each resuming
 * the TLS session of its first handshake (`-reuse`, as a browser does within a session's life) or
 * making a full one every time (`-new`). Each connection is a handshake and a close, no request:
 * what it measures is handshakes a second. It gives no latencies (p50 and p99 hold 0).
 */
import type { Command } from '../src/drivers/driver.ts';
import type { WrkResult } from './wrk.ts';

export interface StimeOptions {
  readonly seconds: number;
  readonly processes: number;
  readonly resume: boolean;
}

/** `processes` s_time runs against `hostPort` ("address:port"), each for `seconds`. */
export const stime = (hostPort: string, o: StimeOptions): Command => ({
  argv: [
    'sh',
    '-c',
    // OpenSSL 3.0's s_time sends no SNI: the load balancers serve one certificate anyway.
    'for i in $(seq "$1"); do openssl s_time -connect "$2" "$3" -time "$4" & done; wait',
    'stime',
    String(o.processes),
    hostPort,
    o.resume ? '-reuse' : '-new',
    String(o.seconds),
  ],
  timeoutMs: (o.seconds + 30) * 1000,
});

/**
 * The connections of every process's report ("N connections in T real seconds"), over the
 * seconds they ran. Fewer reports than processes is an error: one of them failed.
 */
export function parseStime(output: string, processes: number, seconds: number): WrkResult {
  const counts = [...output.matchAll(/^(\d+) connections in \d+ real seconds/gm)].map((m) =>
    Number(m[1]),
  );
  if (counts.length !== processes)
    throw new Error(
      `s_time: ${counts.length} of ${processes} processes reported: ${output.slice(-500)}`,
    );
  const requests = counts.reduce((sum, n) => sum + n, 0);
  return { requestsPerSecond: requests / seconds, p50Ms: 0, p99Ms: 0, requests, errors: 0 };
}
