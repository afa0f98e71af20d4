/**
 * TLS connections from OpenSSL's `s_time`, several processes at once, each resuming the TLS
 * session of its first handshake (`-reuse`, as a returning browser does within a session's life)
 * or making a full one every time (`-new`, as a new visitor does). Without `www` each connection
 * is a handshake and a close, no request: handshakes a second. With it, each connection also asks
 * for that path (HTTP/1.0, no Host: the load balancers serve one site) and reads the answer to the
 * server's close: new visitors' connections a second, one request each. It gives no latencies
 * (p50 and p99 hold 0).
 *
 * wrk cannot stand for new visitors: it reuses each connection's SSL object (SSL_clear), which
 * keeps its session, so with `Connection: close` every connection after the first resumes (99%
 * of 192 in HAProxy's `show info`, SslCacheLookups 192, 2026-12-07).
 */
import type { Command } from '../src/drivers/driver.ts';
import type { WrkResult } from './wrk.ts';

export interface StimeOptions {
  readonly seconds: number;
  readonly processes: number;
  readonly resume: boolean;
  /** A path each connection asks for. */
  readonly www?: string;
}

/** `processes` s_time runs against `hostPort` ("address:port"), each for `seconds`. */
export const stime = (hostPort: string, o: StimeOptions): Command => ({
  argv: [
    'sh',
    '-c',
    // OpenSSL 3.0's s_time sends no SNI: the load balancers serve one certificate anyway.
    `for i in $(seq "$1"); do openssl s_time -connect "$2" "$3" -time "$4"${o.www === undefined ? '' : ' -www "$5"'} & done; wait`,
    'stime',
    String(o.processes),
    hostPort,
    o.resume ? '-reuse' : '-new',
    String(o.seconds),
    ...(o.www === undefined ? [] : [o.www]),
  ],
  timeoutMs: (o.seconds + 30) * 1000,
});

/**
 * The connections of every process's report ("N connections in T real seconds"), over the
 * seconds they ran. Fewer reports than processes is an error: one of them failed. So is a run
 * that asked for a page (`www`) and read nothing on some process's connections.
 */
export function parseStime(
  output: string,
  processes: number,
  seconds: number,
  www = false,
): WrkResult {
  const reports = [
    ...output.matchAll(/^(\d+) connections in \d+ real seconds, (\d+) bytes read per connection/gm),
  ];
  const counts = reports.map((m) => Number(m[1]));
  if (counts.length !== processes)
    throw new Error(
      `s_time: ${counts.length} of ${processes} processes reported: ${output.slice(-500)}`,
    );
  if (www && reports.some((m) => Number(m[2]) === 0))
    throw new Error(`s_time: connections that read no answer: ${output.slice(-500)}`);
  const requests = counts.reduce((sum, n) => sum + n, 0);
  return { requestsPerSecond: requests / seconds, p50Ms: 0, p99Ms: 0, requests, errors: 0 };
}
