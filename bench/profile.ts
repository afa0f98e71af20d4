/**
 * Where ours differs from bare, counted rather than timed: each HAProxy of the features part (bare,
 * the exact copy of ours, the copies without a feature) run under callgrind on lb-01 while the
 * client sends it a fixed number of requests. Callgrind counts the instructions a process runs in
 * user space, whatever else this shared machine does: a count moves by a few percent between runs
 * (which connections to the web servers HAProxy happened to open), where the CPU time of the
 * features part moves by 10–20% between rounds. It does not see
 * the kernel (the sockets' and the log's system calls), nor what an instruction costs: a copy
 * with `rep movsb` counts one instruction a byte. So it says which feature adds work, and how
 * much; the features part says what that work costs in time.
 *
 * Health checks are off in these copies (the `check` and `track` of each server line): one is a
 * TLS handshake to a web server every 500 ms or so, a few million instructions, which would be
 * counted against whichever copy was slower under callgrind.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { hostPaths } from '../src/model/layout.ts';
import { readPid } from '../src/platform/lab/process.ts';
import { addressOf, type Host } from '../src/model/model.ts';
import type { Context } from '../src/steps/context.ts';
import { startBenchHaproxy, type Bare } from './bare.ts';

/** Instructions per shared object, summed over every function of it (its self cost). */
export interface Counts {
  readonly total: number;
  readonly byObject: ReadonlyMap<string, number>;
}

/**
 * The self cost of each object in a callgrind output file. In the format, `ob=(n) name` names an
 * object once and `ob=(n)` refers to it after; a cost line (`position cost`) counts for the current
 * function's object, but for the line after `calls=`, which is the called function's inclusive
 * cost (already counted where it was spent).
 */
export function parseCallgrind(text: string): Counts {
  const names = new Map<string, string>();
  const byObject = new Map<string, number>();
  let object = '?';
  let afterCalls = false;
  let total = 0;
  for (const line of text.split('\n')) {
    const ob = /^ob=\((\d+)\)(?: (.*))?$/.exec(line);
    if (ob !== null) {
      const [, id = '', name] = ob;
      if (name !== undefined) names.set(id, path.basename(name));
      object = names.get(id) ?? `object ${id}`;
      continue;
    }
    const cob = /^cob=\((\d+)\) (.*)$/.exec(line);
    if (cob !== null) {
      const [, id = '', name = ''] = cob;
      names.set(id, path.basename(name));
      continue;
    }
    if (line.startsWith('calls=')) {
      afterCalls = true;
      continue;
    }
    const cost = /^(?:[+-]?\d+|\*) (\d+)$/.exec(line);
    if (cost === null) continue;
    if (afterCalls) {
      afterCalls = false;
      continue;
    }
    const n = Number(cost[1]);
    total += n;
    byObject.set(object, (byObject.get(object) ?? 0) + n);
  }
  return { total, byObject };
}

/** What a HAProxy under callgrind ran for a number of requests. */
export interface Profile {
  readonly name: string;
  readonly requests: number;
  readonly counts: Counts;
}

/**
 * A config as callgrind can count it: without a master (`master-worker` makes HAProxy run itself
 * again, out of callgrind's sight); without the server lines' health checks and the servers that
 * track them; and with a minute for every timeout, since HAProxy runs some 50 times slower under
 * callgrind (a connection to a web server would outlast `timeout connect`, and its request fail).
 */
export function profiledConfig(config: string): string {
  return config
    .split('\n')
    .map((line) =>
      line
        .replace(/ check inter \d+ fastinter \d+ downinter \d+ fall \d+ rise \d+/, '')
        .replace(/ track \S+/, '')
        .replace(/^(\s+timeout [a-z-]+) \d+m?s$/, '$1 60s'),
    )
    .filter(
      (line) => !/^\s+(master-worker|option httpchk|http-check .*|default-server)$/.test(line),
    )
    .join('\n');
}

/** A HAProxy of the bench's on `lb`, run under callgrind (no master: callgrind follows one process). */
export function startProfiled(
  ctx: Context,
  lb: Host,
  { name, port, config }: { name: string; port: number; config: string },
): Promise<Bare & { readonly outFile: string }> {
  const outFile = path.join(hostPaths(ctx.model, lb.name).run, `callgrind-${name}.out`);
  return startBenchHaproxy(ctx, lb, {
    name,
    port,
    config: profiledConfig(config),
    wrap: ['valgrind', '--tool=callgrind', `--callgrind-out-file=${outFile}`],
  }).then((bare) => ({ ...bare, outFile }));
}

/** `h2load` for `requests` requests over 4 connections: HTTP/1.1 kept alive, or HTTP/2. */
export function fixedLoad(
  url: string,
  requests: number,
  { http2, host }: { http2: boolean; host: string },
): string[] {
  return [
    'h2load',
    // 4 streams a connection: with 16, a HAProxy 50 times slower under callgrind opens more
    // connections to the web servers than it can finish within `timeout connect`.
    ...(http2 ? ['--max-concurrent-streams=4'] : ['--h1']),
    '--clients=4',
    `--requests=${requests}`,
    // For HTTP/1.1 too: a `Host` header would be sent beside the URL's, and get 400.
    '--header',
    `:authority: ${host}`,
    url,
  ];
}

/**
 * The instructions of `requests` requests through a HAProxy under callgrind: a warm-up of a tenth
 * as many (connections to the web servers opened, pools filled), the counters zeroed, the load,
 * and a dump of what the load alone cost.
 */
export async function profileLoad(
  ctx: Context,
  lb: Host,
  client: string,
  target: Bare & { readonly outFile: string },
  { path: urlPath, requests, http2 }: { path: string; requests: number; http2: boolean },
): Promise<Counts> {
  const url = `https://${addressOf(lb, 'edge')}:${target.port}${urlPath}`;
  const host = `www.${ctx.model.domain}`;
  const pid = await readPid(ctx.driver, lb.name, target.pidFile);
  if (pid === undefined) throw new Error(`no pid in ${target.pidFile}`);
  const run = async (n: number, what: string): Promise<void> => {
    const result = await ctx.driver.exec(client, {
      argv: fixedLoad(url, n, { http2, host }),
      timeoutMs: 300_000,
    });
    const done = /(\d+) succeeded, (\d+) failed/.exec(result.stdout);
    if (done?.[1] !== String(n))
      throw new Error(`h2load through ${url}, ${what}: ${done?.[0] ?? result.stdout.slice(-300)}`);
  };
  const control = (flag: string) =>
    ctx.driver.exec(lb.name, {
      argv: ['callgrind_control', flag, String(pid)],
      timeoutMs: 60_000,
    });
  await run(Math.max(1, Math.round(requests / 10)), 'the warm-up');
  await control('-z');
  await run(requests, 'the load counted');
  await control('-d');
  // Each dump is a part of its own, numbered from 1: `<out file>.<part>`.
  const dir = path.dirname(target.outFile);
  const parts = (await readdir(dir))
    .filter((name) => name.startsWith(`${path.basename(target.outFile)}.`))
    .map((name) => path.join(dir, name));
  const dump = parts.sort(
    (a, b) => Number(path.extname(b).slice(1)) - Number(path.extname(a).slice(1)),
  )[0];
  if (dump === undefined) throw new Error(`callgrind wrote no dump beside ${target.outFile}`);
  const counts = parseCallgrind(await readFile(dump, 'utf8'));
  for (const part of parts) await rm(part, { force: true });
  return counts;
}

const thousands = (n: number): string => `${(n / 1000).toFixed(1)}k`;

/**
 * A table: instructions a request of each HAProxy, split by object, and each against the first
 * (bare) and the second (the exact copy of ours).
 */
export function formatProfiles(title: string, profiles: readonly Profile[]): string {
  const objects = ['haproxy', 'libc.so.6', 'libcrypto.so.3', 'libssl.so.3'];
  const per = (p: Profile, n: number) => n / p.requests;
  const [bare, ours] = profiles;
  const header = ['HAProxy', 'instructions a request', ...objects, '÷ bare', 'less than ours'];
  const rows = profiles.map((p) => {
    const total = per(p, p.counts.total);
    return [
      p.name,
      thousands(total),
      ...objects.map((o) => thousands(per(p, p.counts.byObject.get(o) ?? 0))),
      bare === undefined
        ? ''
        : (p.counts.total / p.requests / per(bare, bare.counts.total)).toFixed(2),
      ours === undefined || p === bare || p === ours
        ? ''
        : thousands(per(ours, ours.counts.total) - total),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [title, '', line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join(
    '\n',
  );
}
