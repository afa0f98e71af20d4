/**
 * What a MariaDB server says about itself, asked over its Unix socket with the mariadb client on
 * its host. Results come back as the client's XML, which keeps NULLs and any text intact.
 */
import { CommandFailedError } from '../drivers/driver.ts';
import { mariadb } from '../commands/mariadb.ts';
import { DB_USERS } from '../model/database.ts';
import { hostPaths } from '../model/layout.ts';
import { mariadbFiles } from '../render/mariadb/index.ts';
import type { Context } from '../steps/context.ts';

export type Row = Readonly<Record<string, string | null>>;

const ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
};

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
    return ENTITIES[name] ?? whole;
  });
}

/** One array of rows per statement that returned a result set, in order. */
export function parseXmlResults(xml: string): Row[][] {
  const sets: Row[][] = [];
  for (const set of xml.matchAll(/<resultset\b[^>]*>([\s\S]*?)<\/resultset>/g)) {
    const rows: Row[] = [];
    for (const row of (set[1] ?? '').matchAll(/<row>([\s\S]*?)<\/row>/g)) {
      const fields: Record<string, string | null> = {};
      for (const field of (row[1] ?? '').matchAll(
        /<field name="([^"]*)"(?: xsi:nil="true" \/>|>([\s\S]*?)<\/field>)/g,
      )) {
        fields[unescapeXml(field[1] ?? '')] = field[2] === undefined ? null : unescapeXml(field[2]);
      }
      rows.push(fields);
    }
    sets.push(rows);
  }
  return sets;
}

const SQL_ESCAPES: Readonly<Record<string, string>> = {
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\\': '\\\\',
  "'": "\\'",
  '"': '\\"',
  '\x1a': '\\Z',
};

/** Quotes a string for SQL (the values foobar itself writes: names, addresses, GTIDs, hashes). */
export function sqlString(value: string): string {
  return `'${Array.from(value, (c) => SQL_ESCAPES[c] ?? c).join('')}'`;
}

/** Runs SQL as foobar's admin on a database host (or through the context's SQL transport); every result set, in order. */
export async function runSql(
  ctx: Context,
  host: string,
  sql: string,
  timeoutMs?: number,
): Promise<Row[][]> {
  if (ctx.sql !== undefined) return ctx.sql.run(host, sql, timeoutMs);
  const files = mariadbFiles(hostPaths(ctx.model, host));
  try {
    const result = await ctx.driver.exec(host, mariadb.sql(files.adminClient, sql, timeoutMs));
    return parseXmlResults(result.stdout);
  } catch (error) {
    if (error instanceof CommandFailedError) {
      // The client repeats a failed statement in its error: a CHANGE MASTER's carries a password.
      error.message = withoutStatements(error.message);
      Object.defineProperty(error, 'stderrTail', { value: withoutStatements(error.stderrTail) });
    }
    throw error;
  }
}

/**
 * An error of the mariadb client without the statements it repeats (between lines of dashes),
 * and without any quoted value after a PASSWORD keyword, should one be left.
 */
export function withoutStatements(text: string): string {
  return text
    .replace(/^-{5,}\n[\s\S]*?\n-{5,}\n*/gm, '')
    .replace(/(PASSWORD\s*=?\s*|USING\s+)'(?:[^'\\]|\\.)*'/gi, "$1'…'");
}

/** The first row of the last result set, for scripts that end with one SELECT. */
export async function queryRow(ctx: Context, host: string, sql: string): Promise<Row> {
  return (await runSql(ctx, host, sql)).at(-1)?.[0] ?? {};
}

/** Undefined when the server answers on its socket; otherwise why not. */
export async function pingServer(ctx: Context, host: string): Promise<string | undefined> {
  if (ctx.sql?.ping !== undefined) return ctx.sql.ping(host);
  const files = mariadbFiles(hostPaths(ctx.model, host));
  const result = await ctx.driver.exec(host, mariadb.ping(files.socket), { check: false });
  if (result.exitCode === 0) return undefined;
  return (result.stderr.trim().split('\n').at(-1) ?? '') || `mariadb-admin exit ${result.exitCode}`;
}

export interface ServerState {
  readonly readOnly: boolean;
  readonly gtidBinlogPos: string;
  readonly gtidBinlogState: string;
  readonly gtidSlavePos: string;
  readonly semiSyncMasterEnabled: boolean;
  /** Rpl_semi_sync_master_status: commits wait for a replica right now. */
  readonly semiSyncMasterActive: boolean;
  readonly semiSyncClients: number;
}

export async function serverState(ctx: Context, host: string): Promise<ServerState> {
  const row = await queryRow(
    ctx,
    host,
    `SELECT @@global.read_only AS read_only, @@global.gtid_binlog_pos AS binlog_pos,
       @@global.gtid_binlog_state AS binlog_state, @@global.gtid_slave_pos AS slave_pos,
       @@global.rpl_semi_sync_master_enabled AS semi_enabled,
       (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
         WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_STATUS') AS semi_status,
       (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
         WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_CLIENTS') AS semi_clients;`,
  );
  return {
    readOnly: row.read_only === '1',
    gtidBinlogPos: row.binlog_pos ?? '',
    gtidBinlogState: row.binlog_state ?? '',
    gtidSlavePos: row.slave_pos ?? '',
    semiSyncMasterEnabled: row.semi_enabled === '1',
    semiSyncMasterActive: row.semi_status === 'ON',
    semiSyncClients: Number(row.semi_clients ?? '0'),
  };
}

/** A replication thread killed this long ago and still there is stuck, not ending. */
const STUCK_DUMP_THREAD_SECONDS = 5;

/**
 * The primary's semi-sync state, and a workaround for a MariaDB 10.11 bug: when a replica comes
 * back after its host went silent, the old replication (dump) thread, killed by the new one, can
 * wait for good in the semi-sync ack receiver, and the replica never replicates again (its new
 * dump thread waits for the old one to end). Turning semi-sync off and on stops and restarts the
 * ack receiver, which lets the old thread end (measured: at once; before, stuck for minutes until
 * a restart). Nothing is lost meanwhile: with its only replica cut off, the primary was not
 * waiting for acknowledgements anyway. `released`: the workaround was applied now.
 */
export async function watchSemiSync(
  ctx: Context,
  host: string,
): Promise<{ active: boolean; released: boolean; readOnly: boolean }> {
  const row = await queryRow(
    ctx,
    host,
    `DELIMITER //
BEGIN NOT ATOMIC
  DECLARE released INT DEFAULT 0;
  IF @@global.rpl_semi_sync_master_enabled AND (SELECT COUNT(*) FROM information_schema.PROCESSLIST
      WHERE USER = ${sqlString(DB_USERS.replication)} AND COMMAND = 'Killed'
        AND TIME >= ${STUCK_DUMP_THREAD_SECONDS}) > 0 THEN
    SET GLOBAL rpl_semi_sync_master_enabled = OFF;
    DO SLEEP(0.2);
    SET GLOBAL rpl_semi_sync_master_enabled = ON;
    SET released = 1;
  END IF;
  SELECT released, (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
    WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_STATUS') AS semi_status,
    @@global.read_only AS read_only;
END//
DELIMITER ;`,
  );
  return {
    active: row.semi_status === 'ON',
    released: row.released === '1',
    readOnly: row.read_only === '1',
  };
}

export interface ReplicaStatus {
  /** The address it replicates from. */
  readonly sourceHost: string;
  readonly ioRunning: boolean;
  /** "Connecting" while it tries to reach its source. */
  readonly ioState: string;
  readonly sqlRunning: boolean;
  readonly lagSeconds: number | null;
  readonly usingGtid: string;
  readonly gtidIoPos: string;
  readonly lastIoError: string;
  readonly lastSqlError: string;
  /** The source's certificate is verified by its address (MASTER_SSL_VERIFY_SERVER_CERT). */
  readonly verifiedTls: boolean;
}

/** Undefined when the server replicates from nothing. `before`: statements to run first, in the same call. */
export async function replicaStatus(
  ctx: Context,
  host: string,
  before = '',
): Promise<ReplicaStatus | undefined> {
  const row = (await runSql(ctx, host, `${before}\nSHOW SLAVE STATUS;`)).at(-1)?.[0];
  if (row === undefined) return undefined;
  const lag = row.Seconds_Behind_Master ?? null;
  return {
    sourceHost: row.Master_Host ?? '',
    ioRunning: row.Slave_IO_Running === 'Yes',
    ioState: row.Slave_IO_Running ?? 'No',
    sqlRunning: row.Slave_SQL_Running === 'Yes',
    lagSeconds: lag === null ? null : Number(lag),
    usingGtid: row.Using_Gtid ?? 'No',
    gtidIoPos: row.Gtid_IO_Pos ?? '',
    lastIoError: row.Last_IO_Error ?? '',
    lastSqlError: row.Last_SQL_Error ?? '',
    verifiedTls: row.Master_SSL_Allowed === 'Yes' && row.Master_SSL_Verify_Server_Cert === 'Yes',
  };
}
