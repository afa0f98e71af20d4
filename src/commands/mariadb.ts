/**
 * MariaDB command lines. SQL and secrets never appear in argv: SQL goes to the client's standard
 * input, passwords sit in 0600 option files named with --defaults-file.
 */
import type { Command } from '../drivers/driver.ts';

/** How mariadbd recovers after a crash: a server that will be a replica drops un-acknowledged commits. */
/** `restored`: a copy at an earlier point (db restore --to), a replica of no one. */
export type StartRole = 'primary' | 'replica' | 'restored';

const READING_STATEMENT = /^(SELECT|SHOW)\b/i;

/**
 * True when every statement of a script only reads (SELECT, SHOW). Statements are split at a
 * semicolon ending a line; a script that splits otherwise (a semicolon inside a string) reads as
 * one that writes, which is the safe side for `up --plan`.
 */
export function isReadOnlySql(sql: string): boolean {
  const statements = sql
    .split(/;\s*(?:\n|$)/)
    .map((statement) => statement.trim())
    .filter((statement) => statement !== '');
  return (
    statements.length > 0 &&
    statements.every(
      (statement) => READING_STATEMENT.test(statement) && !/\bINTO\b/i.test(statement),
    )
  );
}

export const mariadb = {
  /**
   * The server parses every option of the file and prints what it would run with; an unknown
   * option makes it fail.
   */
  check: (config: string): Command => ({
    argv: ['mariadbd', `--defaults-file=${config}`, '--help', '--verbose'],
  }),
  /**
   * In the foreground (foobar detaches it). A server that is not the primary starts with the
   * replica role: its crash recovery truncates the binary log of transactions that were never
   * acknowledged by a replica (and so never to a client), instead of committing them.
   */
  start: (config: string, role: StartRole): Command => ({
    argv: [
      'mariadbd',
      `--defaults-file=${config}`,
      // A replica resumes replicating from where it was pointed when it starts (my.cnf says
      // not to, for a server whose role is not known): a reboot or a restart by systemd brings
      // it back as a replica of the primary it had, with nobody to point it again.
      // A restored copy must not replicate even for an instant (its data came with whatever
      // replication settings the backup's source had): my.cnf's skip-slave-start stays.
      ...(role === 'replica' ? ['--init-rpl-role=SLAVE', '--skip-slave-start=OFF'] : []),
      ...(role === 'restored' ? ['--init-rpl-role=SLAVE'] : []),
    ],
  }),
  installDb: (config: string): Command => ({
    argv: [
      'mariadb-install-db',
      `--defaults-file=${config}`,
      '--skip-test-db',
      '--auth-root-authentication-method=socket',
    ],
    timeoutMs: 120_000,
  }),
  /** SQL as foobar's admin (its option file has the login); results as XML, one set per statement. */
  sql: (clientConfig: string, sql: string, timeoutMs = 60_000): Command => ({
    argv: ['mariadb', `--defaults-file=${clientConfig}`, '--xml', '--connect-timeout=2'],
    input: sql,
    timeoutMs,
    readOnly: isReadOnlySql(sql),
  }),
  /** SQL as root over the socket (Unix-socket authentication: no password exists), before foobar's admin does. */
  rootSql: (socket: string, sql: string): Command => ({
    argv: ['mariadb', '--no-defaults', `--socket=${socket}`, '--user=root', '--xml'],
    input: sql,
    timeoutMs: 30_000,
  }),
  /** Succeeds when the server answers, even before any account of ours exists. */
  ping: (socket: string): Command => ({
    argv: [
      'mariadb-admin',
      '--no-defaults',
      `--socket=${socket}`,
      '--user=root',
      '--connect-timeout=2',
      'ping',
    ],
    timeoutMs: 5000,
    readOnly: true,
  }),
  /**
   * A consistent copy of a running server's data, streamed to standard output (mbstream) for
   * another host to unpack; it notes the GTID position the copy corresponds to
   * (xtrabackup_binlog_info). Nothing is written on the server's host. From a replica,
   * --safe-slave-backup pauses its SQL thread while the copy is made consistent (no temporary
   * table half-way).
   */
  backupStream: (backupConfig: string, source: 'primary' | 'replica'): Command => ({
    argv: [
      'mariadb-backup',
      `--defaults-file=${backupConfig}`,
      '--backup',
      ...(source === 'replica' ? ['--safe-slave-backup'] : []),
      '--stream=mbstream',
    ],
    timeoutMs: 600_000,
  }),
  /**
   * The same stream from a server reached as root on its socket (the backup host's scratch
   * server, which has no foobar account): `config` is its my.cnf (its datadir).
   */
  backupStreamAsRoot: (config: string, socket: string): Command => ({
    argv: [
      'mariadb-backup',
      `--defaults-file=${config}`,
      `--socket=${socket}`,
      '--user=root',
      '--backup',
      '--stream=mbstream',
    ],
    timeoutMs: 600_000,
  }),
  /** Makes a copy consistent (applies its redo log) so a server can start on it. */
  prepare: (targetDir: string): Command => ({
    argv: ['mariadb-backup', '--no-defaults', '--prepare', `--target-dir=${targetDir}`],
    timeoutMs: 600_000,
  }),
};
