/**
 * Runs on a database server (bench/repltls.ts starts it, settings as JSON on standard input,
 * result as JSON on standard output), as foobar's admin over the server's Unix socket, so that the
 * only network hop in what it times is replication's:
 *
 *   node bench/repltls-client.ts commits   on the primary, semi-sync on: `connections` connections
 *                                          each commit one small row after another for `seconds`
 *                                          (each commit returns once the replica has acknowledged
 *                                          it); commits a second, their latency, and how many of
 *                                          them the replica did (and did not) acknowledge
 *   node bench/repltls-client.ts fetch     on the replica, its replication stopped and a backlog
 *                                          waiting on the primary: starts the I/O thread alone and
 *                                          times it until it has read the primary's binary log up
 *                                          to `target`; with the server's CPU time meanwhile
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { cpuTicks } from './transit-scrape.ts';

/** A place in a binary log: its file and the offset in it. */
export interface BinlogPosition {
  readonly file: string;
  readonly pos: number;
}

interface Common {
  /** The admin's option file on this host (user, password, socket: mariadbFiles' adminClient). */
  readonly adminClient: string;
}

export interface CommitSettings extends Common {
  readonly table: string;
  readonly connections: number;
  readonly seconds: number;
}

export interface CommitLeg {
  readonly commits: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Rpl_semi_sync_master_yes_tx and _no_tx meanwhile: commits the replica acknowledged, or not in time. */
  readonly acknowledged: number;
  readonly unacknowledged: number;
}

export interface FetchSettings extends Common {
  readonly target: BinlogPosition;
  /** The server's pid file, and the clock ticks a second of /proc/PID/stat. */
  readonly serverPid: string;
  readonly ticksPerSecond: number;
  /** It gives up (and says so) this long after it starts the I/O thread. */
  readonly deadlineMs: number;
  /** Between two looks at SHOW SLAVE STATUS. */
  readonly pollMs: number;
}

export interface FetchLeg {
  /** From START SLAVE IO_THREAD to the first status that had read up to the target. */
  readonly seconds: number;
  /** The replica's server process's CPU time meanwhile. */
  readonly cpuSeconds: number;
  /** SHOW SLAVE STATUS once caught up. */
  readonly sslAllowed: string;
  readonly readUpTo: BinlogPosition;
  readonly polls: number;
}

export interface AdminLogin {
  readonly user: string;
  readonly password: string;
  readonly socket: string;
}

/** user, password and socket from a `[client]` option file as foobar writes them (key = value). */
export function parseClientOptions(text: string): AdminLogin {
  const values = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1] !== undefined) section = header[1];
    else if (section === 'client') {
      const pair = /^([\w-]+)\s*=\s*(.*)$/.exec(line);
      if (pair?.[1] !== undefined && pair[2] !== undefined) values.set(pair[1], pair[2]);
    }
  }
  const [user, password, socket] = ['user', 'password', 'socket'].map((k) => values.get(k));
  if (user === undefined || password === undefined || socket === undefined)
    throw new Error('the option file has no [client] user, password and socket');
  return { user, password, socket };
}

/** The sequence number a binary log file's name ends with (db-01-bin.000007: 7). */
export function binlogIndex(file: string): number {
  const found = /\.(\d+)$/.exec(file);
  if (found?.[1] === undefined) throw new Error(`not a binary log file name: ${file}`);
  return Number(found[1]);
}

/** Whether a replica that has read up to `read` has read everything up to `target`. */
export function hasRead(read: BinlogPosition, target: BinlogPosition): boolean {
  const [r, t] = [binlogIndex(read.file), binlogIndex(target.file)];
  return r === t ? read.pos >= target.pos : r > t;
}

/** The `q` quantile (0–1) of some values, the nearest rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

function connect(settings: Common): Promise<Connection> {
  const login = parseClientOptions(readFileSync(settings.adminClient, 'utf8'));
  return mysql.createConnection({
    socketPath: login.socket,
    user: login.user,
    password: login.password,
  });
}

async function semiSyncCounts(
  connection: Connection,
): Promise<{ yes: number; no: number; active: boolean }> {
  const [rows] = await connection.query<RowDataPacket[]>(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_yes_tx', 'Rpl_semi_sync_master_no_tx', 'Rpl_semi_sync_master_status')",
  );
  const value = (name: string): string =>
    String(rows.find((r) => r.Variable_name === name)?.Value ?? '');
  return {
    yes: Number(value('Rpl_semi_sync_master_yes_tx')),
    no: Number(value('Rpl_semi_sync_master_no_tx')),
    active: value('Rpl_semi_sync_master_status') === 'ON',
  };
}

async function commits(settings: CommitSettings): Promise<CommitLeg> {
  const status = await connect(settings);
  const writers = await Promise.all(
    Array.from({ length: settings.connections }, () => connect(settings)),
  );
  try {
    const before = await semiSyncCounts(status);
    if (!before.active) throw new Error('semi-sync is not active on this primary');
    const latencies: number[] = [];
    const started = performance.now();
    const until = started + settings.seconds * 1000;
    await Promise.all(
      writers.map(async (writer, i) => {
        while (performance.now() < until) {
          const began = performance.now();
          await writer.query(`INSERT INTO ${settings.table} (writer) VALUES (?)`, [i]);
          latencies.push(performance.now() - began);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const after = await semiSyncCounts(status);
    return {
      commits: latencies.length,
      seconds,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      acknowledged: after.yes - before.yes,
      unacknowledged: after.no - before.no,
    };
  } finally {
    await Promise.all([status, ...writers].map((c) => c.end()));
  }
}

function positionOf(row: RowDataPacket | undefined): BinlogPosition {
  return { file: String(row?.Master_Log_File ?? ''), pos: Number(row?.Read_Master_Log_Pos ?? 0) };
}

async function fetchBacklog(settings: FetchSettings): Promise<FetchLeg> {
  const connection = await connect(settings);
  try {
    const pid = Number(readFileSync(settings.serverPid, 'utf8').trim());
    const cpu = (): number =>
      cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / settings.ticksPerSecond;
    const cpuBefore = cpu();
    const started = performance.now();
    await connection.query('START SLAVE IO_THREAD');
    for (let polls = 1; ; polls++) {
      const [rows] = await connection.query<RowDataPacket[]>('SHOW SLAVE STATUS');
      const [row] = rows;
      const read = positionOf(row);
      if (read.file !== '' && hasRead(read, settings.target))
        return {
          seconds: (performance.now() - started) / 1000,
          cpuSeconds: cpu() - cpuBefore,
          sslAllowed: String(row?.Master_SSL_Allowed ?? ''),
          readUpTo: read,
          polls,
        };
      if (performance.now() - started > settings.deadlineMs)
        throw new Error(
          `the I/O thread read up to ${read.file}:${read.pos}, not ${settings.target.file}:${settings.target.pos}, in ${settings.deadlineMs} ms (I/O thread: ${String(row?.Slave_IO_Running)}, ${String(row?.Last_IO_Error)})`,
        );
      await sleep(settings.pollMs);
    }
  } finally {
    await connection.end();
  }
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const input = readFileSync(0, 'utf8');
  let result: CommitLeg | FetchLeg;
  if (mode === 'commits') result = await commits(JSON.parse(input) as CommitSettings);
  else if (mode === 'fetch') result = await fetchBacklog(JSON.parse(input) as FetchSettings);
  else throw new Error('usage: repltls-client.ts commits|fetch < settings.json');
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main();
