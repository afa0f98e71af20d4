/**
 * A bounded stream of guestbook writes that records what a user would know afterwards: which
 * writes were acknowledged (201, with their id) and when, and what the others got. Run inside a
 * host (the lab's client) by tests and drills:
 *
 *   node src/load/writer.ts --url https://www.foobar.com/api/messages --cacert CA --seconds 6 --prefix run1
 *
 * Every message text is unique (prefix-worker-n), so a reader can check each exists exactly once.
 * Prints one JSON summary on stdout.
 */
import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  exchange,
  loadArgOptions,
  loadBounds,
  loadClient,
  type Answer,
  type LoadBounds,
  type RequestFunction,
} from './options.ts';

export interface AckedWrite {
  readonly id: number;
  readonly text: string;
  /** When the 201 arrived (ms since the epoch). */
  readonly at: number;
  readonly db: string;
}

export interface WriteSummary {
  readonly requests: number;
  readonly acked: readonly AckedWrite[];
  /** Status code or error code → count, for every write that was not acknowledged. */
  readonly failures: Record<string, number>;
  /** When each unacknowledged write ended (ms since the epoch). */
  readonly failedAt: readonly number[];
  readonly startedAt: number;
  readonly endedAt: number;
}

interface Options extends LoadBounds {
  readonly prefix: string;
}

function post(
  client: { agent: http.Agent; request: RequestFunction },
  options: Options,
  text: string,
): Promise<Answer> {
  return exchange(client, options.url, options.timeoutMs, JSON.stringify({ text }));
}

export async function runWriter(options: Options): Promise<WriteSummary> {
  const client = loadClient(options);
  const acked: AckedWrite[] = [];
  const failures: Record<string, number> = {};
  const failedAt: number[] = [];
  let requests = 0;
  const startedAt = Date.now();
  const deadline = startedAt + options.seconds * 1000;
  const worker = async (w: number): Promise<void> => {
    for (let n = 0; Date.now() < deadline; n++) {
      const text = `${options.prefix}-${w}-${n}`;
      const result = await post(client, options, text);
      requests++;
      if (result.status === 201 && result.body !== undefined) {
        const body = JSON.parse(result.body) as { id: number; text: string; db: string };
        acked.push({ id: body.id, text: body.text, at: Date.now(), db: body.db });
        continue;
      }
      const key = result.error ?? String(result.status);
      failures[key] = (failures[key] ?? 0) + 1;
      failedAt.push(Date.now());
      // The site is down for writes: do not spin.
      await sleep(20);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, w) => worker(w)));
  client.agent.destroy();
  return { requests, acked, failures, failedAt, startedAt, endedAt: Date.now() };
}

export function parseWriterArgs(args: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...args],
    options: {
      ...loadArgOptions({ concurrency: '4', timeoutMs: '10000' }),
      prefix: { type: 'string', default: 'w' },
    },
  });
  return { ...loadBounds(values, 64), prefix: values.prefix };
}

if (import.meta.main) {
  const summary = await runWriter(parseWriterArgs(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}
