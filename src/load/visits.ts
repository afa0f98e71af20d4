/**
 * A bounded load that uses the site as a visitor's browser does: the home page, the
 * `/static/<release>/` assets that page names, and a guestbook write, over and over. Every
 * response is counted by kind, and every page by the release that served it and when, so a test
 * can tell that a switch of release happened while the load ran. Run inside a host (the lab's
 * client) by tests and drills:
 *
 *   node src/load/visits.ts --url https://www.foobar.com/ --cacert CA --seconds 60 --stop-file F
 *
 * It writes --ready-file once the first page is served, stops at --seconds or as soon as
 * --stop-file exists, whichever comes first, and prints one JSON summary on stdout.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadArgOptions, loadBounds, loadClient, type LoadBounds } from './options.ts';
import { sendRequest, type Outcome as Answer } from './request.ts';

export const VISIT_KINDS = ['page', 'static', 'write'] as const;
export type VisitKind = (typeof VISIT_KINDS)[number];

export interface KindCounts {
  readonly requests: number;
  /** Answers a visitor counts as success: 2xx or 3xx. */
  readonly ok: number;
  /** Status code → count, for every response. */
  readonly statuses: Record<string, number>;
  /** Error code (ECONNRESET, ETIMEDOUT, ...) → count, for requests that got no response. */
  readonly errors: Record<string, number>;
}

/** When pages of one release were served (ms since the epoch), and how many. */
export interface ReleaseSeen {
  readonly first: number;
  readonly last: number;
  readonly pages: number;
}

export interface VisitSummary {
  readonly url: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly requests: number;
  readonly failed: number;
  readonly kinds: Record<VisitKind, KindCounts>;
  /** Release (as the page says) → when its pages were served. */
  readonly releases: Record<string, ReleaseSeen>;
  /** X-Served-By → count, over every kind. */
  readonly servedBy: Record<string, number>;
  /** The first failures (at most 100): when, what kind, and the status or error. */
  readonly failures: readonly { at: number; kind: VisitKind; answer: string; url: string }[];
}

interface Options extends LoadBounds {
  readonly stopFile?: string;
  /** Written once the first page has been served: the visitors are really coming. */
  readonly readyFile?: string;
  readonly prefix: string;
}

/** The release a home page says served it, and the assets it names. */
export function readPage(html: string): { release?: string; assets: string[] } {
  const release = /id="release">([0-9a-f]{12})</.exec(html)?.[1];
  const assets = [
    ...new Set([...html.matchAll(/"(\/static\/[0-9a-f]{12}\/[^"]+)"/g)].map((m) => m[1] ?? '')),
  ];
  return { ...(release === undefined ? {} : { release }), assets };
}

function emptyCounts(): {
  requests: number;
  ok: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
} {
  return { requests: 0, ok: 0, statuses: {}, errors: {} };
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

export async function runVisits(options: Options): Promise<VisitSummary> {
  const client = loadClient(options);
  const kinds = { page: emptyCounts(), static: emptyCounts(), write: emptyCounts() };
  const releases: Record<string, { first: number; last: number; pages: number }> = {};
  const servedBy: Record<string, number> = {};
  const failures: { at: number; kind: VisitKind; answer: string; url: string }[] = [];
  const startedAt = Date.now();
  const deadline = startedAt + options.seconds * 1000;
  const origin = new URL(options.url).origin;
  const going = (): boolean =>
    Date.now() < deadline && (options.stopFile === undefined || !existsSync(options.stopFile));

  const record = (
    kind: VisitKind,
    url: string,
    answer: Answer,
    okStatus: (s: number) => boolean,
  ): void => {
    const counts = kinds[kind];
    counts.requests++;
    if (answer.error !== undefined) bump(counts.errors, answer.error);
    if (answer.status !== undefined) {
      bump(counts.statuses, String(answer.status));
      if (okStatus(answer.status)) counts.ok++;
    }
    if ((answer.status === undefined || !okStatus(answer.status)) && failures.length < 100)
      failures.push({ at: Date.now(), kind, answer: answer.error ?? String(answer.status), url });
    if (answer.server !== undefined) bump(servedBy, answer.server);
  };
  const success = (s: number): boolean => s >= 200 && s < 400;

  const worker = async (w: number): Promise<void> => {
    for (let n = 0; going(); n++) {
      const page = await sendRequest(client, {
        url: options.url,
        method: 'GET',
        timeoutMs: options.timeoutMs,
        keepBody: true,
      });
      const at = Date.now();
      record('page', options.url, page, success);
      const { release, assets } = readPage(page.body ?? '');
      if (release !== undefined && page.status === 200) {
        if (options.readyFile !== undefined && !existsSync(options.readyFile))
          writeFileSync(options.readyFile, `${at}\n`);
        const seen = releases[release] ?? { first: at, last: at, pages: 0 };
        seen.last = at;
        seen.pages++;
        releases[release] = seen;
      }
      for (const asset of assets) {
        const url = `${origin}${asset}`;
        record(
          'static',
          url,
          await sendRequest(client, { url, method: 'GET', timeoutMs: options.timeoutMs }),
          success,
        );
      }
      const text = `${options.prefix}-${w}-${n}`;
      const messages = `${origin}/api/messages`;
      const write = await sendRequest(client, {
        url: messages,
        method: 'POST',
        timeoutMs: options.timeoutMs,
        json: { text },
      });
      record('write', messages, write, (s) => s === 201);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, w) => worker(w)));
  client.agent.destroy();
  const requests = VISIT_KINDS.reduce((sum, k) => sum + kinds[k].requests, 0);
  const ok = VISIT_KINDS.reduce((sum, k) => sum + kinds[k].ok, 0);
  return {
    url: options.url,
    startedAt,
    endedAt: Date.now(),
    requests,
    failed: requests - ok,
    kinds,
    releases,
    servedBy,
    failures,
  };
}

export function parseVisitArgs(args: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...args],
    options: {
      ...loadArgOptions({ concurrency: '4', timeoutMs: '10000' }),
      'stop-file': { type: 'string' },
      'ready-file': { type: 'string' },
      prefix: { type: 'string', default: 'visit' },
    },
  });
  return {
    ...loadBounds(values, 64),
    prefix: values.prefix,
    ...(values['stop-file'] === undefined ? {} : { stopFile: values['stop-file'] }),
    ...(values['ready-file'] === undefined ? {} : { readyFile: values['ready-file'] }),
  };
}

if (import.meta.main) {
  const summary = await runVisits(parseVisitArgs(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}
