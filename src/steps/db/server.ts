/**
 * A database server's data directory and foobar's access to it. A primary's data directory is
 * made by mariadb-install-db; a replica's is a consistent copy of the primary's (mariadb-backup),
 * never an empty server, so it holds the same accounts and schema and starts replicating from the
 * GTID position the copy was taken at.
 */
import path from 'node:path';
import { files as fileCommands } from '../../commands/files.ts';
import { backup as backupCommands } from '../../commands/backup.ts';
import { mariadb } from '../../commands/mariadb.ts';
import {
  formatBytes,
  PipeFailedError,
  type ExecResult,
  type PipeEnd,
  type PipeResult,
} from '../../drivers/driver.ts';
import { DB_USERS, dbSecretName } from '../../model/database.ts';
import { hostPaths } from '../../model/layout.ts';
import { formatGtidList, parseGtidList, stateAtPosition } from '../../lib/gtid.ts';
import { pingServer, replicaStatus, runSql, serverState, sqlString } from '../../probes/mariadb.ts';
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

/** How often a long copy notes its progress in the seed log. */
const PROGRESS_NOTE_MS = 5000;

export interface DataOrigin {
  readonly how: 'installed' | 'copied' | 'restored';
  readonly at: string;
  /** For a copy: the server it was taken from and the GTID history (binlog state) it holds. */
  readonly from?: string;
  readonly gtid?: string;
  /** For a copy: the server was told its GTID position (done once, after its first start). */
  readonly positioned?: boolean;
  /** For a copy: the bytes streamed from the source, and how long the stream took. */
  readonly bytes?: number;
  readonly seconds?: number;
  /** For a restore: the point it was restored to (`time=ISO` or `gtid=LIST`). */
  readonly restoredTo?: string;
}

/** A prepared copy of a server's data, streamed into a staging directory beside the data dir. */
export interface ReceivedCopy {
  readonly staging: string;
  readonly bytes: number;
  readonly seconds: number;
}

/**
 * Streams a consistent copy (`from`: mariadb-backup --stream=mbstream on its host) into a
 * staging directory beside this host's data directory (mbstream -x as it arrives, through
 * driver.pipe: never a file on the way), then prepares it. The data directory is not touched.
 * Both sides' output, and the bytes so far while it runs, go to this host's seed log.
 * `onProgress` hears the bytes so far every PROGRESS_NOTE_MS.
 */
export async function receiveCopy(
  ctx: Context,
  host: string,
  from: PipeEnd,
  what: { readonly copy: string; readonly doing: string },
  onProgress?: (bytes: number, seconds: number) => void,
): Promise<ReceivedCopy> {
  const files = dbFiles(ctx, host);
  const staging = path.join(path.dirname(files.datadir), 'copy');
  await ctx.driver.remove(host, staging);
  await ctx.driver.mkdir(host, staging, 0o750);
  const note = (text: string): Promise<void> => ctx.driver.appendFile(host, files.seedLog, text);
  await ctx.driver.writeFile(host, files.seedLog, `${what.copy}, ${new Date().toISOString()}\n`);
  const into = { target: host, command: backupCommands.unpack(staging) };
  const started = performance.now();
  let notes = Promise.resolve();
  let noted = started;
  const progress = (bytes: number): void => {
    if (performance.now() - noted < PROGRESS_NOTE_MS) return;
    noted = performance.now();
    onProgress?.(bytes, (noted - started) / 1000);
    notes = notes.then(() => note(`${formatBytes(bytes)} so far\n`)).catch(() => undefined);
  };
  let streamed: PipeResult;
  try {
    streamed = await ctx.driver.pipe(from, into, { onProgress: progress });
  } catch (error) {
    await notes;
    if (!(error instanceof PipeFailedError)) throw error;
    await note(sideLogs(from, error.from, into, error.to));
    await ctx.driver.remove(host, staging);
    throw new Error(
      `${host}: ${what.doing} failed; the output of both sides is in ${files.seedLog}:\n${error.message}`,
      { cause: error },
    );
  }
  await notes;
  const seconds = (performance.now() - started) / 1000;
  await note(
    `${sideLogs(from, streamed.from, into, streamed.to)}${formatBytes(streamed.bytes)} in ${seconds.toFixed(1)} s\n`,
  );
  const prepare = mariadb.prepare(staging);
  const prepared = await ctx.driver.exec(host, prepare, { check: false });
  await note(`${host}: ${prepare.argv.join(' ')}: exit ${prepared.exitCode}\n${prepared.stderr}\n`);
  if (prepared.exitCode !== 0) {
    throw new Error(
      `${host}: preparing the ${what.copy} failed (exit ${prepared.exitCode}); its output is in ${files.seedLog}:\n${tail(prepared.stderr)}`,
    );
  }
  return { staging, bytes: streamed.bytes, seconds };
}

/**
 * Copies a running server's data into this host's data directory (which must not be in use),
 * consistently, and notes the GTID position of the copy (see receiveCopy).
 */
export async function copyDataDir(ctx: Context, host: string, source: string): Promise<void> {
  const files = dbFiles(ctx, host);
  const sourceFiles = dbFiles(ctx, source);
  const problem = await pingServer(ctx, source);
  if (problem !== undefined)
    throw new Error(
      `${host}: cannot copy ${source}'s data: ${source} does not answer (${problem})`,
    );
  await ctx.driver.remove(host, files.origin);
  const role = (await replicaStatus(ctx, source)) === undefined ? 'primary' : 'replica';
  const from = { target: source, command: mariadb.backupStream(sourceFiles.backupClient, role) };
  const copy = await receiveCopy(ctx, host, from, {
    copy: `copy of ${source}'s data`,
    doing: `copying ${source}'s data`,
  });
  const sourceState = (await serverState(ctx, source)).gtidBinlogState;
  const info = await ctx.driver.readFile(host, path.join(copy.staging, 'xtrabackup_binlog_info'));
  const position = parseGtidList(info?.trim().split('\t')[2] ?? '');
  const gtid = formatGtidList(stateAtPosition(parseGtidList(sourceState), position));
  await ctx.driver.remove(host, files.datadir);
  await ctx.driver.exec(host, fileCommands.move(copy.staging, files.datadir));
  await ctx.driver.exec(host, fileCommands.chownTree(MYSQL_OWNER, files.datadir));
  await writeOrigin(ctx, host, {
    how: 'copied',
    from: source,
    gtid,
    positioned: false,
    at: new Date().toISOString(),
    bytes: copy.bytes,
    seconds: Number(copy.seconds.toFixed(1)),
  });
}

/**
 * Puts a received copy in place of this host's data directory (its server stopped), keeping the
 * old one aside under `aside` (renamed, never deleted), and notes where the copy came from.
 * Resolves to where the old data directory is now (undefined: there was none).
 */
export async function replaceDataDir(
  ctx: Context,
  host: string,
  copy: ReceivedCopy,
  origin: DataOrigin,
  aside: string,
): Promise<string | undefined> {
  const files = dbFiles(ctx, host);
  const old =
    (await ctx.driver.exec(host, fileCommands.isDir(files.datadir), { check: false })).exitCode ===
    0;
  if (old) {
    await ctx.driver.exec(host, fileCommands.move(files.datadir, aside));
    const before = await ctx.driver.readFile(host, files.origin);
    if (before !== undefined)
      await ctx.driver.writeFile(host, path.join(aside, 'foobar-origin.json'), before);
  }
  await ctx.driver.exec(host, fileCommands.move(copy.staging, files.datadir));
  await ctx.driver.exec(host, fileCommands.chownTree(MYSQL_OWNER, files.datadir));
  await writeOrigin(ctx, host, origin);
  // The restored data's accounts are the backup's: foobar's admin account is set again at start.
  await ctx.driver.remove(host, files.adminClient);
  return old ? aside : undefined;
}

/** Each side's command, exit code and stderr, for the seed log. */
function sideLogs(
  from: PipeEnd,
  fromResult: ExecResult,
  into: PipeEnd,
  intoResult: ExecResult,
): string {
  const side = (end: PipeEnd, result: ExecResult): string =>
    `${end.target ?? 'this machine'}: ${end.command.argv.join(' ')}: exit ${result.exitCode}\n${result.stderr}\n`;
  return side(from, fromResult) + side(into, intoResult);
}

/** "copied from db-01 (18.2 MB streamed in 2.3 s)", as `up` reports it. */
export function describeCopy(origin: DataOrigin): string {
  const figures =
    origin.bytes === undefined || origin.seconds === undefined
      ? ''
      : ` (${formatBytes(origin.bytes)} streamed in ${origin.seconds} s)`;
  return `copied from ${origin.from ?? 'another server'}${figures}`;
}

/**
 * After a copied server's first start: its binary log is empty, so it is told which transactions
 * its data already holds, both as its own history (for later comparisons) and as where
 * replication resumes.
 */
export async function positionCopiedData(
  ctx: Context,
  host: string,
): Promise<DataOrigin | undefined> {
  const origin = await readOrigin(ctx, host);
  if (origin === undefined || origin.how === 'installed' || origin.positioned === true)
    return undefined;
  const history = sqlString(origin.gtid ?? '');
  await runSql(
    ctx,
    host,
    `STOP SLAVE;\nRESET SLAVE ALL;\nRESET MASTER;\nSET GLOBAL gtid_binlog_state = ${history};\nSET GLOBAL gtid_slave_pos = @@gtid_binlog_pos;\n`,
  );
  const positioned = { ...origin, positioned: true };
  await writeOrigin(ctx, host, positioned);
  return positioned;
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
