/**
 * What TLS costs replication between the database servers (primary → replica: GTID, semi-sync,
 * TLS verified by name), against clear text between the same two servers, in interleaved legs
 * (TLS, clear, clear, TLS, ...), after a warm-up leg each way:
 *
 * - what a writer sees: commits a second on the primary from a few connections over its socket
 *   (bench/repltls-client.ts commits), semi-sync on, so each commit waits for the replica's
 *   acknowledgement; and
 * - a backlog fetched: with the replica's replication stopped, the primary writes `backlogMib`
 *   MiB of binary log (incompressible rows, into a fresh binary log file) into a table of the
 *   bench's; then the replica's I/O thread is started alone and timed until it has read up to the
 *   primary's position (bench/repltls-client.ts fetch), in MB of binary log a second, with each
 *   server's CPU time meanwhile; the SQL thread applies it afterwards, untimed.
 *
 * The site never lets replication go in clear text (`require_secure_transport` on every server,
 * the replication account `REQUIRE SSL`, CHANGE MASTER with MASTER_SSL and the primary's
 * certificate verified). For this comparison only the bench lets the primary take clear text
 * and the replica's account log in without TLS, and points the replica with MASTER_SSL = 0 for
 * the clear legs; afterwards it puts back what it found (the primary's setting and the account's
 * REQUIRE), points the replica as `up` does (src/steps/db/replication.ts), drops its database, and
 * checks that the replica replicates over verified TLS again, semi-sync active.
 */
import os from 'node:os';
import path from 'node:path';
import { DB_USERS } from '../src/model/database.ts';
import { hostPaths } from '../src/model/layout.ts';
import { addressOf, type Host } from '../src/model/model.ts';
import { runSql, serverState, sqlString, type Row } from '../src/probes/mariadb.ts';
import { mariadbFiles } from '../src/render/mariadb/index.ts';
import type { Context } from '../src/steps/context.ts';
import { requiresSsl } from '../src/steps/db/accounts.ts';
import { ensureSemiSync, replicateFrom, waitApplied } from '../src/steps/db/replication.ts';
import { primaryHost, readDbState, replicasOf } from '../src/steps/db/state.ts';
import { waitFor } from '../src/lib/wait.ts';
import { alternate, formatTable, median, pairedRatio, type PairedRatio } from './compare.ts';
import {
  binlogIndex,
  type BinlogPosition,
  type CommitLeg,
  type CommitSettings,
  type FetchLeg,
  type FetchSettings,
} from './repltls-client.ts';
import { cpuTicks } from './transit-scrape.ts';
import type { Sides } from './transit.ts';

const CLIENT = path.join(import.meta.dirname, 'repltls-client.ts');
/** The bench's own database, on the primary and so on the replica; dropped afterwards. */
export const BENCH_DATABASE = 'foobar_bench_repl';
const BACKLOG = `\`${BENCH_DATABASE}\`.backlog`;
const COMMITS = `\`${BENCH_DATABASE}\`.commits`;
/** A statement of the backlog inserts this many MiB (16³ rows of 1 KiB, RANDOM_BYTES' most). */
const MIB_A_STATEMENT = 4;

export interface ReplLeg {
  readonly commits: CommitLeg;
  readonly fetch: FetchLeg;
  /** Binary log bytes the replica fetched. */
  readonly bytes: number;
  /** The primary's server process's CPU time around the fetch (its script's start included). */
  readonly primaryCpuSeconds: number;
}

export interface ReplRound {
  readonly tls: ReplLeg;
  readonly clear: ReplLeg;
}

export interface ReplTlsCost {
  readonly primary: string;
  readonly replica: string;
  readonly connections: number;
  readonly seconds: number;
  readonly backlogMib: number;
  readonly rounds: readonly ReplRound[];
  /** Commits a second, TLS ÷ clear. */
  readonly commits: PairedRatio;
  /** Median commit latency, ms. */
  readonly commitP50Ms: Sides;
  /** Commits the replica did not acknowledge in time (semi-sync fell back), all legs. */
  readonly unacknowledged: Sides;
  /** Binary log fetched, MB (10^6 bytes) a second, TLS ÷ clear. */
  readonly fetch: PairedRatio;
  /** CPU seconds per GB fetched, each server's process. */
  readonly primaryCpuPerGb: Sides;
  readonly replicaCpuPerGb: Sides;
  /** This machine's one-minute load average before and after the part. */
  readonly loadAverage: { readonly before: number; readonly after: number };
}

/** The replica's CHANGE MASTER for a leg: only the TLS settings change, the rest is kept. */
export function pointReplicaSql(tls: boolean): string {
  const on = tls ? 1 : 0;
  return `STOP SLAVE;
CHANGE MASTER TO MASTER_SSL = ${on}, MASTER_SSL_VERIFY_SERVER_CERT = ${on}, MASTER_USE_GTID = slave_pos;`;
}

/** `mib` MiB of incompressible rows (a little more, in whole statements), a transaction each. */
export function backlogSql(table: string, mib: number): string {
  const digits = `(SELECT ${Array.from({ length: 16 }, (_, i) => (i === 0 ? '0 AS d' : String(i))).join(' UNION ALL SELECT ')})`;
  const statement = `INSERT INTO ${table} (b) SELECT RANDOM_BYTES(1024) FROM ${digits} x, ${digits} y, ${digits} z;`;
  return Array.from({ length: Math.ceil(mib / MIB_A_STATEMENT) }, () => statement).join('\n');
}

/** Bytes of binary log from `from` to `to`, across files (`logs`: SHOW BINARY LOGS). */
export function binlogBytes(
  logs: readonly { readonly name: string; readonly size: number }[],
  from: BinlogPosition,
  to: BinlogPosition,
): number {
  if (from.file === to.file) return to.pos - from.pos;
  const [first, last] = [binlogIndex(from.file), binlogIndex(to.file)];
  const sizeOf = (index: number): number => {
    const log = logs.find((l) => binlogIndex(l.name) === index);
    if (log === undefined)
      throw new Error(`no binary log ${index} between ${from.file} and ${to.file}`);
    return log.size;
  };
  let bytes = sizeOf(first) - from.pos + to.pos;
  for (let i = first + 1; i < last; i++) bytes += sizeOf(i);
  return bytes;
}

function sides<R>(rounds: readonly R[], pick: (round: R, tls: boolean) => number): Sides {
  return {
    tls: median(rounds.map((r) => pick(r, true))),
    clear: median(rounds.map((r) => pick(r, false))),
  };
}

const legOf = (round: ReplRound, tls: boolean): ReplLeg => (tls ? round.tls : round.clear);
const commitRate = (leg: ReplLeg): number => leg.commits.commits / leg.commits.seconds;
const fetchRate = (leg: ReplLeg): number => leg.bytes / 1e6 / leg.fetch.seconds;

export function summarizeRepl(
  rounds: readonly ReplRound[],
  connections: number,
): Pick<
  ReplTlsCost,
  'commits' | 'commitP50Ms' | 'unacknowledged' | 'fetch' | 'primaryCpuPerGb' | 'replicaCpuPerGb'
> {
  if (rounds.length === 0) throw new Error('the replication bench measured no round');
  const perGb = (cpu: (leg: ReplLeg) => number) =>
    sides(rounds, (r, tls) => cpu(legOf(r, tls)) / (legOf(r, tls).bytes / 1e9));
  return {
    commits: pairedRatio(
      `commits a second, ${connections} connections on the primary`,
      rounds,
      (r) => commitRate(r.tls),
      (r) => commitRate(r.clear),
    ),
    commitP50Ms: sides(rounds, (r, tls) => legOf(r, tls).commits.p50Ms),
    unacknowledged: {
      tls: rounds.reduce((n, r) => n + r.tls.commits.unacknowledged, 0),
      clear: rounds.reduce((n, r) => n + r.clear.commits.unacknowledged, 0),
    },
    fetch: pairedRatio(
      'a backlog fetched by the I/O thread, MB/s',
      rounds,
      (r) => fetchRate(r.tls),
      (r) => fetchRate(r.clear),
    ),
    primaryCpuPerGb: perGb((leg) => leg.primaryCpuSeconds),
    replicaCpuPerGb: perGb((leg) => leg.fetch.cpuSeconds),
  };
}

export function formatRepl(cost: ReplTlsCost): string {
  const spread = (r: PairedRatio): string =>
    `${r.median.toFixed(2)} (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
  const pair = (s: Sides, digits: number): string =>
    `${s.tls.toFixed(digits)} / ${s.clear.toFixed(digits)}`;
  const { before, after } = cost.loadAverage;
  return [
    `Replication ${cost.primary} → ${cost.replica} over TLS ÷ clear text (GTID, semi-sync; ${cost.rounds.length} rounds; ${cost.seconds} s of commits and ${cost.backlogMib} MiB of binary log a leg):`,
    formatTable(
      ['load', 'TLS', 'clear', 'TLS ÷ clear (spread)', 'TLS / clear'],
      [
        [
          cost.commits.name,
          cost.commits.a.toFixed(0),
          cost.commits.b.toFixed(0),
          spread(cost.commits),
          `p50 ${pair(cost.commitP50Ms, 2)} ms; not acknowledged ${cost.unacknowledged.tls} / ${cost.unacknowledged.clear}`,
        ],
        [
          cost.fetch.name,
          cost.fetch.a.toFixed(0),
          cost.fetch.b.toFixed(0),
          spread(cost.fetch),
          `CPU s per GB: primary ${pair(cost.primaryCpuPerGb, 2)}, replica ${pair(cost.replicaCpuPerGb, 2)}`,
        ],
      ],
    ),
    `(load average ${before.toFixed(1)} before, ${after.toFixed(1)} after)`,
  ].join('\n');
}

function binlogPosition(row: Row | undefined): BinlogPosition {
  const file = row?.File ?? '';
  if (file === '') throw new Error('SHOW MASTER STATUS: no binary log');
  return { file, pos: Number(row?.Position ?? 0) };
}

async function clientOn<T>(
  ctx: Context,
  host: string,
  mode: 'commits' | 'fetch',
  settings: CommitSettings | FetchSettings,
  timeoutMs: number,
): Promise<T> {
  const result = await ctx.driver.exec(host, {
    argv: [process.execPath, CLIENT, mode],
    input: JSON.stringify(settings),
    timeoutMs,
  });
  return JSON.parse(result.stdout) as T;
}

async function replicaRow(ctx: Context, replica: string): Promise<Row> {
  const [rows = []] = await runSql(ctx, replica, 'SHOW SLAVE STATUS;');
  const [row] = rows;
  if (row === undefined) throw new Error(`${replica} replicates from no one`);
  return row;
}

/** Undefined when the replica replicates from `primary` (both threads), TLS as asked; else why not. */
function replicatingProblem(row: Row, primary: Host, tls: boolean): string | undefined {
  if (row.Master_Host !== addressOf(primary, 'core')) return `from ${row.Master_Host ?? 'nobody'}`;
  if (row.Using_Gtid !== 'Slave_Pos') return `Using_Gtid ${row.Using_Gtid ?? ''}`;
  if (row.Slave_IO_Running !== 'Yes' || row.Slave_SQL_Running !== 'Yes')
    return `I/O ${row.Slave_IO_Running ?? ''} ${row.Last_IO_Error ?? ''}, SQL ${row.Slave_SQL_Running ?? ''} ${row.Last_SQL_Error ?? ''}`;
  const want = tls ? 'Yes' : 'No';
  if (row.Master_SSL_Allowed !== want || row.Master_SSL_Verify_Server_Cert !== want)
    return `Master_SSL_Allowed ${row.Master_SSL_Allowed ?? ''}, Master_SSL_Verify_Server_Cert ${row.Master_SSL_Verify_Server_Cert ?? ''} (${tls ? 'TLS' : 'clear text'} wanted)`;
  return undefined;
}

async function waitReplicatingAs(
  ctx: Context,
  replica: string,
  primary: Host,
  tls: boolean,
): Promise<void> {
  await waitFor(
    `${replica}: replication from ${primary.name} ${tls ? 'over TLS' : 'in clear text'}`,
    async () => replicatingProblem(await replicaRow(ctx, replica), primary, tls),
    { timeoutMs: 30_000 },
  );
}

/** Everything the primary has written, applied on the replica (else an error). */
async function caughtUp(ctx: Context, primary: string, replica: string): Promise<void> {
  const { gtidBinlogPos } = await serverState(ctx, primary);
  if (!(await waitApplied(ctx, replica, gtidBinlogPos, 300)))
    throw new Error(`${replica} did not apply ${primary}'s ${gtidBinlogPos} in 300 s`);
}

/**
 * Semi-sync active on the primary with the replica attached. A primary that fell back to
 * asynchronous commits (the backlog's, while the replica was stopped) switches back at a
 * replica's acknowledgement, so a row is committed each time it is not yet.
 */
async function semiSyncActive(ctx: Context, primary: string): Promise<void> {
  await waitFor(
    `${primary}: semi-sync active`,
    async () => {
      const state = await serverState(ctx, primary);
      if (state.semiSyncMasterActive && state.semiSyncClients > 0) return undefined;
      await runSql(ctx, primary, `INSERT INTO ${COMMITS} (writer) VALUES (-1);`);
      return `status ${state.semiSyncMasterActive ? 'ON' : 'OFF'}, ${state.semiSyncClients} replicas`;
    },
    { timeoutMs: 30_000 },
  );
}

/** The primary's binary log senders (the replica's, the backup host's follower) have sent all. */
async function sendersIdle(ctx: Context, primary: string): Promise<void> {
  await waitFor(
    `${primary}: its binary log sent to every follower`,
    async () => {
      const [rows = []] = await runSql(
        ctx,
        primary,
        `SELECT COUNT(*) AS busy FROM information_schema.PROCESSLIST
           WHERE COMMAND LIKE 'Binlog Dump%' AND STATE NOT LIKE 'Master has sent all binlog%';`,
      );
      const busy = rows[0]?.busy ?? '0';
      return busy === '0' ? undefined : `${busy} still sending`;
    },
    { timeoutMs: 120_000 },
  );
}

interface Pair {
  readonly primary: Host;
  readonly replica: Host;
  readonly ticksPerSecond: number;
}

async function cpuSeconds(ctx: Context, pair: Pair, host: Host): Promise<number> {
  const files = mariadbFiles(hostPaths(ctx.model, host.name));
  const pid = (await ctx.driver.readFile(host.name, files.serverPid))?.trim() ?? '';
  const stat = await ctx.driver.exec(host.name, {
    argv: ['cat', `/proc/${pid}/stat`],
    readOnly: true,
  });
  return cpuTicks(stat.stdout) / pair.ticksPerSecond;
}

/** One leg: the replica pointed with or without TLS, a backlog fetched, then commits. */
async function leg(
  ctx: Context,
  pair: Pair,
  tls: boolean,
  options: { backlogMib: number; seconds: number; connections: number },
): Promise<ReplLeg> {
  const { primary, replica } = pair;
  await runSql(ctx, replica.name, pointReplicaSql(tls));
  // A new binary log file, so the replica's request starts at its beginning: the primary then
  // sends the backlog without first reading through the earlier ones.
  const flushed = await runSql(ctx, primary.name, 'FLUSH BINARY LOGS;\nSHOW MASTER STATUS;');
  const from = binlogPosition(flushed.at(-1)?.[0]);
  const written = await runSql(
    ctx,
    primary.name,
    `${backlogSql(BACKLOG, options.backlogMib)}\nSHOW MASTER STATUS;\nSHOW BINARY LOGS;`,
    600_000,
  );
  const target = binlogPosition(written.at(-2)?.[0]);
  const logs = written.at(-1) ?? [];
  const bytes = binlogBytes(
    logs.map((l) => ({ name: l.Log_name ?? '', size: Number(l.File_size ?? 0) })),
    from,
    target,
  );
  await sendersIdle(ctx, primary.name);
  const replicaFiles = mariadbFiles(hostPaths(ctx.model, replica.name));
  const deadlineMs = 300_000;
  const primaryBefore = await cpuSeconds(ctx, pair, primary);
  const fetch = await clientOn<FetchLeg>(
    ctx,
    replica.name,
    'fetch',
    {
      adminClient: replicaFiles.adminClient,
      target,
      serverPid: replicaFiles.serverPid,
      ticksPerSecond: pair.ticksPerSecond,
      deadlineMs,
      pollMs: 5,
    },
    deadlineMs + 60_000,
  );
  const primaryCpuSeconds = (await cpuSeconds(ctx, pair, primary)) - primaryBefore;
  if (fetch.sslAllowed !== (tls ? 'Yes' : 'No'))
    throw new Error(`${replica.name} fetched with Master_SSL_Allowed ${fetch.sslAllowed}`);
  await runSql(ctx, replica.name, 'START SLAVE SQL_THREAD;');
  await waitReplicatingAs(ctx, replica.name, primary, tls);
  await caughtUp(ctx, primary.name, replica.name);
  await semiSyncActive(ctx, primary.name);
  const commits = await clientOn<CommitLeg>(
    ctx,
    primary.name,
    'commits',
    {
      adminClient: mariadbFiles(hostPaths(ctx.model, primary.name)).adminClient,
      table: COMMITS,
      connections: options.connections,
      seconds: options.seconds,
    },
    options.seconds * 1000 + 120_000,
  );
  await runSql(ctx, primary.name, `TRUNCATE TABLE ${BACKLOG};\nTRUNCATE TABLE ${COMMITS};`);
  await caughtUp(ctx, primary.name, replica.name);
  return { commits, fetch, bytes, primaryCpuSeconds };
}

/** What the bench changes on the primary, as it found it. */
interface Found {
  readonly requireSecureTransport: boolean;
  readonly accountRequiresSsl: boolean;
}

function replicationAccount(replica: Host): string {
  return `${sqlString(DB_USERS.replication)}@${sqlString(addressOf(replica, 'core'))}`;
}

async function accountRequiresSsl(ctx: Context, host: string, replica: Host): Promise<boolean> {
  const [rows = []] = await runSql(
    ctx,
    host,
    `SELECT Priv AS priv FROM mysql.global_priv WHERE User = ${sqlString(DB_USERS.replication)} AND Host = ${sqlString(addressOf(replica, 'core'))};`,
  );
  const priv = rows[0]?.priv;
  if (priv === undefined || priv === null)
    throw new Error(`${host}: no account ${replicationAccount(replica)}`);
  return requiresSsl(priv);
}

async function findSettings(ctx: Context, primary: Host, replica: Host): Promise<Found> {
  const [rows = []] = await runSql(
    ctx,
    primary.name,
    'SELECT @@global.require_secure_transport AS rst;',
  );
  return {
    requireSecureTransport: rows[0]?.rst === '1',
    accountRequiresSsl: await accountRequiresSsl(ctx, primary.name, replica),
  };
}

/** The primary's settings and the account's REQUIRE as found (ALTER USER replicates). */
function putBackSql(found: Found, replica: Host): string {
  return `ALTER USER ${replicationAccount(replica)} REQUIRE ${found.accountRequiresSsl ? 'SSL' : 'NONE'};
SET GLOBAL require_secure_transport = ${found.requireSecureTransport ? 'ON' : 'OFF'};`;
}

/**
 * Everything put back, each step tried even when one before failed; then checked: the primary's
 * and the replica's settings as found, the bench's database gone, the replica replicating over
 * verified TLS, semi-sync active. The first error is thrown once all were tried.
 */
async function putBack(ctx: Context, pair: Pair, found: Found): Promise<void> {
  const { primary, replica } = pair;
  const errors: unknown[] = [];
  const attempt = async (step: () => Promise<unknown>): Promise<void> => {
    try {
      await step();
    } catch (error) {
      errors.push(error);
    }
  };
  await attempt(() => runSql(ctx, primary.name, putBackSql(found, replica)));
  // As `up` points a replica: MASTER_SSL, the lab's CA, the primary verified by name.
  await attempt(() => replicateFrom(ctx, replica.name, primary));
  await attempt(() => ensureSemiSync(ctx, primary.name));
  // Semi-sync active again before the database goes: its DROP is then acknowledged.
  await attempt(() => semiSyncActive(ctx, primary.name));
  await attempt(() => runSql(ctx, primary.name, `DROP DATABASE IF EXISTS \`${BENCH_DATABASE}\`;`));
  await attempt(async () => {
    await caughtUp(ctx, primary.name, replica.name);
    const problems: string[] = [];
    const now = await findSettings(ctx, primary, replica);
    if (now.requireSecureTransport !== found.requireSecureTransport)
      problems.push(`${primary.name}: require_secure_transport ${now.requireSecureTransport}`);
    if (now.accountRequiresSsl !== found.accountRequiresSsl)
      problems.push(
        `${primary.name}: ${replicationAccount(replica)} REQUIRE SSL ${now.accountRequiresSsl}`,
      );
    if ((await accountRequiresSsl(ctx, replica.name, replica)) !== found.accountRequiresSsl)
      problems.push(`${replica.name}: ${replicationAccount(replica)} not as on ${primary.name}`);
    for (const host of [primary, replica]) {
      const [rows = []] = await runSql(
        ctx,
        host.name,
        `SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${sqlString(BENCH_DATABASE)};`,
      );
      if (rows[0]?.n !== '0') problems.push(`${host.name}: ${BENCH_DATABASE} still there`);
    }
    const problem = replicatingProblem(await replicaRow(ctx, replica.name), primary, true);
    if (problem !== undefined) problems.push(`${replica.name}: ${problem}`);
    const state = await serverState(ctx, primary.name);
    if (!state.semiSyncMasterEnabled || !state.semiSyncMasterActive)
      problems.push(`${primary.name}: semi-sync not active`);
    if (problems.length > 0)
      throw new Error(
        `the replication bench did not leave the site as it found it: ${problems.join('; ')}`,
      );
  });
  if (errors.length > 0) throw errors[0];
}

export async function replTlsCost(
  ctx: Context,
  {
    rounds = 5,
    seconds = 4,
    connections = 4,
    backlogMib = 128,
  }: { rounds?: number; seconds?: number; connections?: number; backlogMib?: number } = {},
): Promise<ReplTlsCost> {
  const before = os.loadavg()[0] ?? Number.NaN;
  const state = await readDbState(ctx);
  const primary = primaryHost(ctx, state);
  const [replica] = replicasOf(ctx, state);
  if (replica === undefined) throw new Error('replication’s TLS needs a replica');
  const problem = replicatingProblem(await replicaRow(ctx, replica.name), primary, true);
  const semiSync = await serverState(ctx, primary.name);
  if (problem !== undefined || !semiSync.semiSyncMasterEnabled)
    throw new Error(
      `${replica.name} does not replicate as \`up\` makes it (${problem ?? 'semi-sync off on the primary'}): nothing measured`,
    );
  const found = await findSettings(ctx, primary, replica);
  const ticks = await ctx.driver.exec(replica.name, {
    argv: ['getconf', 'CLK_TCK'],
    readOnly: true,
  });
  const pair: Pair = { primary, replica, ticksPerSecond: Number(ticks.stdout.trim()) };
  try {
    await runSql(
      ctx,
      primary.name,
      `DROP DATABASE IF EXISTS \`${BENCH_DATABASE}\`;
CREATE DATABASE \`${BENCH_DATABASE}\`;
CREATE TABLE ${BACKLOG} (id BIGINT AUTO_INCREMENT PRIMARY KEY, b VARBINARY(1024) NOT NULL) ENGINE = InnoDB;
CREATE TABLE ${COMMITS} (id BIGINT AUTO_INCREMENT PRIMARY KEY, writer INT NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE = InnoDB;
SET GLOBAL require_secure_transport = OFF;
ALTER USER ${replicationAccount(replica)} REQUIRE NONE;`,
    );
    await caughtUp(ctx, primary.name, replica.name);
    // A warm-up leg each way, not counted: a quarter of the backlog, a second of commits.
    const warmUp = {
      connections,
      seconds: 1,
      backlogMib: Math.max(MIB_A_STATEMENT, backlogMib / 4),
    };
    const full = { connections, seconds, backlogMib };
    process.stdout.write('bench: replication, a warm-up leg each way\n');
    await leg(ctx, pair, true, warmUp);
    await leg(ctx, pair, false, warmUp);
    process.stdout.write(`bench: replication, ${rounds} rounds each way\n`);
    const done: ReplRound[] = (
      await alternate(
        rounds,
        () => leg(ctx, pair, true, full),
        () => leg(ctx, pair, false, full),
      )
    ).map(([tls, clear]) => ({ tls, clear }));
    return {
      primary: primary.name,
      replica: replica.name,
      connections,
      seconds,
      backlogMib,
      rounds: done,
      ...summarizeRepl(done, connections),
      loadAverage: { before, after: os.loadavg()[0] ?? Number.NaN },
    };
  } finally {
    await putBack(ctx, pair, found);
  }
}
