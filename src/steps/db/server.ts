/**
 * A database server's data directory and foobar's access to it. A primary's data directory is
 * made by mariadb-install-db; a replica's is a consistent copy of the primary's (mariadb-backup),
 * never an empty server, so it holds the same accounts and schema and starts replicating from the
 * GTID position the copy was taken at.
 */
import path from 'node:path';
import { files as fileCommands } from '../../commands/files.ts';
import { mariadb } from '../../commands/mariadb.ts';
import { DB_USERS, dbSecretName } from '../../model/database.ts';
import { hostPaths } from '../../model/layout.ts';
import { formatGtidList, parseGtidList, stateAtPosition } from '../../lib/gtid.ts';
import { pingServer, runSql, serverState, sqlString } from '../../probes/mariadb.ts';
import {
  mariadbFiles,
  renderAdminClientConfig,
  renderBackupClientConfig,
  type MariadbFiles,
} from '../../render/mariadb/index.ts';
import type { Context } from '../context.ts';
import { writeFiles } from '../daemon.ts';
import { adminBootstrapSql, passwordHash } from './accounts.ts';

const MYSQL_OWNER = 'mysql:mysql';

export interface DataOrigin {
  readonly how: 'installed' | 'copied';
  readonly at: string;
  /** For a copy: the server it was taken from and the GTID history (binlog state) it holds. */
  readonly from?: string;
  readonly gtid?: string;
  /** For a copy: the server was told its GTID position (done once, after its first start). */
  readonly positioned?: boolean;
}

export function dbFiles(ctx: Context, host: string): MariadbFiles {
  return mariadbFiles(hostPaths(ctx.model, host));
}

export async function readOrigin(ctx: Context, host: string): Promise<DataOrigin | undefined> {
  const text = await ctx.driver.readFile(host, dbFiles(ctx, host).origin);
  return text === undefined ? undefined : (JSON.parse(text) as DataOrigin);
}

async function writeOrigin(ctx: Context, host: string, origin: DataOrigin): Promise<void> {
  await ctx.driver.writeFile(host, dbFiles(ctx, host).origin, `${JSON.stringify(origin)}\n`);
}

/** The directory mariadbd writes its socket and pid file to, after it drops to the mysql user. */
export async function prepareRunDir(ctx: Context, host: string): Promise<void> {
  const files = dbFiles(ctx, host);
  await ctx.driver.mkdir(host, files.runDir);
  await ctx.driver.exec(host, fileCommands.chown(MYSQL_OWNER, files.runDir));
}

async function emptyDataDir(ctx: Context, host: string): Promise<void> {
  const files = dbFiles(ctx, host);
  await ctx.driver.remove(host, files.origin);
  await ctx.driver.remove(host, files.datadir);
  await ctx.driver.mkdir(host, files.datadir, 0o750);
  await ctx.driver.exec(host, fileCommands.chown(MYSQL_OWNER, files.datadir));
}

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/**
 * A fresh data directory. mariadb-install-db has been seen to fail once in many runs: its exit
 * code is checked, its output kept in the host's log directory, and it gets a second try.
 */
export async function installDataDir(ctx: Context, host: string): Promise<void> {
  const files = dbFiles(ctx, host);
  let log = '';
  for (let attempt = 1; attempt <= 2; attempt++) {
    await emptyDataDir(ctx, host);
    const result = await ctx.driver.exec(host, mariadb.installDb(files.config), { check: false });
    log += `attempt ${attempt}: exit ${result.exitCode}\n${result.stdout}${result.stderr}\n`;
    await ctx.driver.writeFile(host, files.installLog, log);
    if (result.exitCode === 0) {
      await writeOrigin(ctx, host, { how: 'installed', at: new Date().toISOString() });
      return;
    }
  }
  throw new Error(
    `${host}: mariadb-install-db failed twice; its output is in ${files.installLog}:\n${tail(log)}`,
  );
}

/**
 * Copies a running server's data into this host's data directory (which must not be in use),
 * consistently, and notes the GTID position of the copy.
 */
export async function copyDataDir(ctx: Context, host: string, source: string): Promise<void> {
  const files = dbFiles(ctx, host);
  const sourceFiles = dbFiles(ctx, source);
  const problem = await pingServer(ctx, source);
  if (problem !== undefined)
    throw new Error(
      `${host}: cannot copy ${source}'s data: ${source} does not answer (${problem})`,
    );
  const staging = path.join(path.dirname(files.datadir), 'copy');
  await ctx.driver.remove(host, staging);
  await ctx.driver.remove(host, files.origin);
  let log = '';
  const run = async (target: string, command: Parameters<Context['driver']['exec']>[1]) => {
    const result = await ctx.driver.exec(target, command, { check: false });
    log += `${target}: ${command.argv.join(' ')}: exit ${result.exitCode}\n${result.stderr}\n`;
    await ctx.driver.writeFile(host, files.seedLog, log);
    if (result.exitCode !== 0) {
      throw new Error(
        `${host}: copying ${source}'s data failed (${command.argv[0] ?? ''} ${command.argv.at(-2) ?? ''}); ` +
          `its output is in ${files.seedLog}:\n${tail(result.stderr)}`,
      );
    }
  };
  // In the lab every host's files are on this machine; over SSH this becomes a stream (mbstream).
  await run(source, mariadb.backup(sourceFiles.backupClient, staging));
  const sourceState = (await serverState(ctx, source)).gtidBinlogState;
  await run(host, mariadb.prepare(staging));
  const info = await ctx.driver.readFile(host, path.join(staging, 'xtrabackup_binlog_info'));
  const position = parseGtidList(info?.trim().split('\t')[2] ?? '');
  const gtid = formatGtidList(stateAtPosition(parseGtidList(sourceState), position));
  await ctx.driver.remove(host, files.datadir);
  await ctx.driver.exec(host, fileCommands.move(staging, files.datadir));
  await ctx.driver.exec(host, fileCommands.chownTree(MYSQL_OWNER, files.datadir));
  await writeOrigin(ctx, host, {
    how: 'copied',
    from: source,
    gtid,
    positioned: false,
    at: new Date().toISOString(),
  });
}

/**
 * After a copied server's first start: its binary log is empty, so it is told which transactions
 * its data already holds, both as its own history (for later comparisons) and as where
 * replication resumes.
 */
export async function positionCopiedData(ctx: Context, host: string): Promise<boolean> {
  const origin = await readOrigin(ctx, host);
  if (origin?.how !== 'copied' || origin.positioned === true) return false;
  const history = sqlString(origin.gtid ?? '');
  await runSql(
    ctx,
    host,
    `STOP SLAVE;\nRESET SLAVE ALL;\nRESET MASTER;\nSET GLOBAL gtid_binlog_state = ${history};\nSET GLOBAL gtid_slave_pos = @@gtid_binlog_pos;\n`,
  );
  await writeOrigin(ctx, host, { ...origin, positioned: true });
  return true;
}

/**
 * foobar's admin account and the 0600 option files that hold its password. The account is made
 * (as root, over the socket) whenever the files are new or changed, so a server copied from
 * another, or a changed secret, is taken care of.
 */
export async function ensureAdminAccess(ctx: Context, host: string): Promise<boolean> {
  const files = dbFiles(ctx, host);
  const password = await ctx.secrets.get(dbSecretName('admin'));
  const client = renderAdminClientConfig(DB_USERS.admin, password, files.socket);
  const backup = renderBackupClientConfig(files.config, DB_USERS.admin, password);
  if (
    (await ctx.driver.readFile(host, files.adminClient)) === client &&
    (await ctx.driver.readFile(host, files.backupClient)) === backup
  ) {
    return false;
  }
  await ctx.driver.exec(
    host,
    mariadb.rootSql(files.socket, adminBootstrapSql(passwordHash(password))),
  );
  await writeFiles(ctx, host, [
    { path: files.adminClient, content: client, mode: 0o600 },
    { path: files.backupClient, content: backup, mode: 0o600 },
  ]);
  return true;
}

/**
 * Before mariadbd starts: its run directory, and a data directory if it has none (a fresh one on
 * the primary, a copy of the primary's on any other server).
 */
export async function prepareDataDir(ctx: Context, host: string, primary: string): Promise<void> {
  await prepareRunDir(ctx, host);
  if ((await readOrigin(ctx, host)) !== undefined) return;
  if (host === primary) await installDataDir(ctx, host);
  else await copyDataDir(ctx, host, primary);
}
