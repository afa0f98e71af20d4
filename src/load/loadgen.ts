/**
 * A bounded HTTP load that counts what a user would have seen: every status, every socket error,
 * and which web server answered. Run inside a host (the lab's client) by tests and drills:
 *
 *   node src/load/loadgen.ts --url https://www.foobar.com/api/whoami --cacert CA --seconds 5
 *
 * Prints one JSON summary on stdout. Keep-alive connections, like a browser's.
 */
import { parseArgs } from 'node:util';
import { loadArgOptions, loadBounds, loadClient, type LoadBounds } from './options.ts';
import { sendRequest } from './request.ts';

export interface LoadSummary {
  readonly url: string;
  readonly seconds: number;
  readonly requests: number;
  /** Responses with a 2xx or 3xx status. */
  readonly ok: number;
  /** Status code → count, for every response. */
  readonly statuses: Record<string, number>;
  /** Error code (ECONNRESET, ETIMEDOUT, ...) → count, for requests that got no response. */
  readonly errors: Record<string, number>;
  /** X-Served-By → count. */
  readonly servedBy: Record<string, number>;
  readonly failed: number;
  /** The longest request, from sending it to the end of its answer (or its error), in ms. */
  readonly slowestMs: number;
  /** The 99th percentile of the requests' durations, in ms. */
  readonly p99Ms: number;
}

interface Options extends LoadBounds {
  readonly method: string;
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

export async function runLoad(options: Options): Promise<LoadSummary> {
  const client = loadClient(options);
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const servedBy: Record<string, number> = {};
  const durations: number[] = [];
  let requests = 0;
  let ok = 0;
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const sent = performance.now();
      const result = await sendRequest(client, {
        url: options.url,
        method: options.method,
        timeoutMs: options.timeoutMs,
      });
      durations.push(performance.now() - sent);
      requests++;
      if (result.error !== undefined) bump(errors, result.error);
      if (result.status !== undefined) {
        bump(statuses, String(result.status));
        if (result.status >= 200 && result.status < 400) ok++;
      }
      if (result.server !== undefined) bump(servedBy, result.server);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  client.agent.destroy();
  durations.sort((a, b) => a - b);
  return {
    url: options.url,
    seconds: (Date.now() - started) / 1000,
    requests,
    ok,
    statuses,
    errors,
    servedBy,
    failed: requests - ok,
    slowestMs: Math.round(durations.at(-1) ?? 0),
    p99Ms: Math.round(durations[Math.floor(durations.length * 0.99)] ?? 0),
  };
}

export function parseLoadArgs(args: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...args],
    options: {
      ...loadArgOptions({ concurrency: '8', timeoutMs: '5000' }),
      method: { type: 'string', default: 'GET' },
    },
  });
  return { ...loadBounds(values, 256), method: values.method };
}

if (import.meta.main) {
  const summary = await runLoad(parseLoadArgs(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}
