/** The database tier as its clients see it: the mariadb client on lab hosts, and the drill's visitors writing from the client host. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ExecResult } from '../../src/drivers/driver.ts';
import { auditWrites, storedMessages } from '../../src/drill/writes.ts';
import type { AckedMessage, VisitorsReport } from '../../src/load/visits.ts';
import { startVisitors } from '../../src/drill/load.ts';
import { summarizeWrites, type WriteSummary } from '../../src/load/visits.ts';
import { DB_USERS, dbSecretName, type DbUser } from '../../src/model/database.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { addressOf } from '../../src/model/model.ts';
import { trustedCa } from '../../src/model/transit.ts';
import { mariadbFiles, renderNetworkClientConfig } from '../../src/render/mariadb/index.ts';
import { sleep } from '../../src/lib/wait.ts';
import type { TestLab } from './lab.ts';

/**
 * `foobar ARGS --json` through `run` (a lab's cli), its report parsed, when its exit code is one
 * of `accepted`. A db status that failed only because a probe of the primary timed out on a busy
 * machine (exit 2, "the primary ... does not answer (no greeting ... within 2000 ms)": CI runs at
 * load average 20 failed on it, with nothing on stderr) is asked again, as a person would, twice
 * at most. Anything else fails at once, with what it printed.
 */
export async function cliReport<T>(
  run: (...args: string[]) => Promise<ExecResult>,
  args: readonly string[],
  accepted: readonly number[],
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const result = await run(...args, '--json');
    if (accepted.includes(result.exitCode)) return JSON.parse(result.stdout) as T;
    const problems = result.stdout.startsWith('{')
      ? (JSON.parse(result.stdout) as { problems?: unknown }).problems
      : undefined;
    const timedOut =
      Array.isArray(problems) &&
      problems.some((p) =>
        /does not answer \(.*(within \d+ ms|timed out|timeout|ETIMEDOUT)/i.test(String(p)),
      );
    assert.ok(
      timedOut && attempt < 3,
      `foobar ${args.join(' ')}: exit ${result.exitCode}: ${result.stderr}${result.stdout}`,
    );
    await sleep(1000);
  }
}

/**
 * The mariadb client as root on a server's socket, on its host (Unix-socket authentication: a
 * restored server, whose accounts may not be foobar's yet), one statement, tab-separated rows
 * without a header.
 */
export function rootClient(socket: string, statement: string): string[] {
  return [
    'mariadb',
    '--no-defaults',
    `--socket=${socket}`,
    '--user=root',
    '--batch',
    '--skip-column-names',
    '-e',
    statement,
  ];
}

/** SQL as foobar's admin, with the mariadb client on the database host itself. */
export async function sql(
  lab: TestLab,
  host: string,
  statement: string,
  timeoutMs?: number,
): Promise<string[][]> {
  const client = mariadbFiles(hostPaths(lab.model, host)).adminClient;
  const result = await lab.on(
    host,
    ['mariadb', `--defaults-file=${client}`, '--batch', '--skip-column-names', '-e', statement],
    timeoutMs,
  );
  if (result.exitCode !== 0) throw new Error(`${host}: ${statement}: ${result.stderr.trim()}`);
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

/** SQL as one of foobar's accounts, over the network from `from` to the database server `to`. */
export async function sqlAs(
  lab: TestLab,
  user: Exclude<DbUser, 'admin'>,
  from: string,
  to: string,
  statement: string,
  /** Another password than the account's current one (e.g. one rotated away). */
  password = readFileSync(lab.ctx.secrets.pathOf(dbSecretName(user)), 'utf8').trim(),
  /** Verified: TLS, the server checked against the lab's CA and its address; plain: no TLS. */
  transport: 'verified' | 'plain' = 'verified',
): Promise<ExecResult> {
  const file = path.join(lab.model.lab.stateDir, `test-${user}-client.cnf`);
  writeFileSync(
    file,
    renderNetworkClientConfig(
      { user: DB_USERS[user], password },
      transport === 'plain' ? undefined : trustedCa(hostPaths(lab.model, from)),
      { address: addressOf(lab.host(to), 'core'), port: lab.model.ports.mysql },
    ),
    { mode: 0o600 },
  );
  return lab.on(from, [
    'mariadb',
    `--defaults-file=${file}`,
    '--batch',
    '--skip-column-names',
    '-e',
    statement,
  ]);
}

/** Waits until `replica` has applied everything `primary` has now. */
export async function waitCaughtUp(lab: TestLab, replica: string, primary: string): Promise<void> {
  const [[position = ''] = []] = await sql(lab, primary, 'SELECT @@gtid_binlog_pos');
  // A bound: a replica copied while writers wrote through a whole `up` had 20 s of applying
  // left at a load average of 43.
  const [[waited] = []] = await sql(
    lab,
    replica,
    `SELECT MASTER_GTID_WAIT('${position}', 60)`,
    90_000,
  );
  assert.equal(waited, '0', `${replica} did not catch up with ${primary} (${position})`);
}

/** How many writers `writesAround` sends, each with one write in flight at most. */
const WRITERS = 4;

/** Writers through the site, writing until stopped. */
export interface Writers {
  /** Resolves at their first acknowledged write (their start can take seconds on a busy machine). */
  ready(): Promise<void>;
  /** Stops them (a write in flight is abandoned) and says what they saw. */
  stop(): Promise<WriteSummary>;
}

/**
 * Unique writes through the site from the client host: the drill's visitors in their write-only
 * mode, back to back on kept-alive connections, until `stop()` (at most `maxSeconds`, a bound),
 * so the load outlives whatever a test does meanwhile, however slow the machine.
 */
export function startWriters(
  lab: TestLab,
  prefix: string,
  { writers = WRITERS, maxSeconds = 180 } = {},
): Writers {
  const visitors = startVisitors(lab.ctx, {
    seconds: maxSeconds,
    prefix,
    kinds: ['write'],
    visitors: writers,
    intervalMs: 0,
    connections: 'kept',
    // Longer than the load balancers' timeout for writes: the site's own answer (504) counts.
    timeoutMs: 20_000,
  });
  visitors.report.catch(() => undefined);
  return {
    ready: () => visitors.ready(60_000),
    async stop() {
      await visitors.stop();
      return summarizeWrites(await visitors.report);
    },
  };
}

/** A change made while writers wrote, and what they saw. */
export interface WritesAround<T> {
  readonly result: T;
  readonly writes: WriteSummary;
  /** When the change began and ended (ms since the epoch, this machine's clock). */
  readonly startedAt: number;
  readonly endedAt: number;
}

/**
 * Writers as `startWriters`', around a change: from `leadMs` after their first acknowledged write
 * until `afterMs` after the change ended, however long it took (at most `maxSeconds` of load), so
 * a slow change on a busy machine cannot leave the load ended before it. The writes are asserted
 * to have come before the change and to have gone on after it.
 */
export async function writesAround<T>(
  lab: TestLab,
  prefix: string,
  change: () => Promise<T>,
  { leadMs = 1000, afterMs = 3000, maxSeconds = 180 } = {},
): Promise<WritesAround<T>> {
  const writers = startWriters(lab, prefix, { maxSeconds });
  let startedAt = 0;
  let endedAt = 0;
  let result: T;
  let writes: WriteSummary;
  try {
    // Node's start can take seconds on a busy machine: from the first acknowledged write.
    await writers.ready();
    await sleep(leadMs);
    startedAt = Date.now();
    result = await change();
    endedAt = Date.now();
    await sleep(afterMs);
  } finally {
    writes = await writers.stop();
  }
  const times = writes.acked.map((a) => a.at);
  assert.ok(
    times.some((at) => at < startedAt),
    `writes acknowledged before the change: ${JSON.stringify(writes.failures)}`,
  );
  assert.ok(
    times.some((at) => at > endedAt),
    `writes acknowledged after the change: ${JSON.stringify(writes.failures)}`,
  );
  return { result, writes, startedAt, endedAt };
}

/**
 * Visitors on new connections (pages, reads, writes) around a change: from their first page
 * until 2 s after the change ended (new connections after it), bounded at three minutes. Returns
 * the change's result, how long it took, and everything the visitors saw.
 */
export async function visitorsAround<T>(
  lab: TestLab,
  prefix: string,
  change: () => Promise<T>,
): Promise<{ result: T; seconds: number; report: VisitorsReport }> {
  const visitors = startVisitors(lab.ctx, {
    seconds: 180,
    prefix,
    kinds: ['page', 'read', 'write'],
    visitors: 2,
    intervalMs: 0,
    connections: 'fresh',
    timeoutMs: 20_000,
  });
  visitors.report.catch(() => undefined);
  let result: T;
  let seconds: number;
  try {
    await visitors.ready(60_000);
    const started = Date.now();
    result = await change();
    seconds = (Date.now() - started) / 1000;
    await sleep(2000);
  } finally {
    await visitors.stop();
  }
  return { result, seconds, report: await visitors.report };
}

/**
 * Every acknowledged write of a load is on `host` exactly once, with the id it was acknowledged
 * with, and no write of it (acknowledged or not) is there twice: counted as the drill counts
 * (`auditWrites`). Returns how many rows it has.
 */
export async function assertEveryAckedOnce(
  lab: TestLab,
  host: string,
  prefix: string,
  summary: { readonly acked: readonly AckedMessage[] },
): Promise<number> {
  const rows = await storedMessages(lab.ctx, host, prefix);
  const audit = auditWrites(summary.acked, rows);
  assert.deepEqual(audit.lost, [], `acknowledged writes missing or wrong on ${host}`);
  assert.deepEqual(audit.duplicated, [], `writes stored twice on ${host}`);
  return rows.length;
}

/**
 * Rows of a load that nobody was told of, but for the one write each visitor had in flight when
 * the load was stopped (it may have committed; its answer was never read). A visitor's writes are
 * `<prefix>-<visitor>-<n>`, n counting up from 0.
 */
export function unexplainedRows(
  prefix: string,
  acked: readonly AckedMessage[],
  rows: readonly AckedMessage[],
  visitors = WRITERS,
): string[] {
  const last = new Map<string, number>();
  for (const { text } of acked) {
    const [visitor = '', n = ''] = text.slice(prefix.length + 1).split('-');
    last.set(visitor, Math.max(last.get(visitor) ?? -1, Number(n)));
  }
  const told = new Set(acked.map((a) => a.text));
  const inFlight = new Set(
    Array.from({ length: visitors }, (_, v) => `${prefix}-${v}-${(last.get(String(v)) ?? -1) + 1}`),
  );
  return rows.map((r) => r.text).filter((text) => !told.has(text) && !inFlight.has(text));
}

/**
 * No more rows than writes were sent: every request the writers counted, plus the one each had in
 * flight when `writesAround` stopped it (sent, never answered, so not among its requests).
 */
export function assertNoStrayRows(
  rows: number,
  summary: { readonly requests: number },
  writers = WRITERS,
): void {
  assert.ok(
    rows <= summary.requests + writers,
    `${rows} rows stored for ${summary.requests} counted requests of ${writers} writers`,
  );
}

/** The longest stretch without an acknowledged write, in ms. */
export function longestPause(summary: WriteSummary): number {
  const times = summary.acked.map((a) => a.at).sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < times.length; i++)
    longest = Math.max(longest, (times[i] ?? 0) - (times[i - 1] ?? 0));
  return longest;
}

/** Kill → the first write acknowledged by the new primary, as the writer saw it (ms). */
export function firstWriteAfter(summary: WriteSummary, killedAt: number, primary: string): number {
  const first = summary.acked
    .filter((a) => a.db === primary && a.at > killedAt)
    .reduce((min, a) => Math.min(min, a.at), Infinity);
  if (!Number.isFinite(first)) {
    const after: Record<string, number> = {};
    for (const a of summary.acked.filter((w) => w.at > killedAt))
      after[a.db] = (after[a.db] ?? 0) + 1;
    const last = summary.acked.reduce((latest, a) => Math.max(latest, a.at), 0);
    assert.fail(
      `no write reached ${primary} after the kill: acknowledged after it by ${JSON.stringify(after)}, ` +
        `the last acknowledged write ${last - killedAt} ms after it, the writers stopped ${summary.endedAt - killedAt} ms after it; ` +
        `${summary.requests} writes, failures ${JSON.stringify(summary.failures)}`,
    );
  }
  return first - killedAt;
}

/**
 * After a change of primary the servers keep the command lines they started with (a promoted
 * replica's still names the replica's role), but the lab's records of their starts follow their
 * roles: `up` would restart no server.
 */
export async function assertUpRestartsNoServer(lab: TestLab): Promise<void> {
  const plan = await lab.cliWithin(180_000, 'up', '--plan');
  assert.ok([0, 2].includes(plan.exitCode), `${plan.stdout}\n${plan.stderr}`);
  assert.doesNotMatch(plan.stdout, /^ {2}mariadb: /m, plan.stdout);
}
