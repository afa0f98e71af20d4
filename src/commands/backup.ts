/**
 * Backup command lines: mariadb-backup streaming a replica, mariadb-binlog following the primary
 * or reading an archived file, and foobar's backup tool (src/backup/main.ts) on the lab's Node.js.
 * Passwords sit in 0600 option files; nothing secret is in argv.
 */
import path from 'node:path';
import type { Command } from '../drivers/driver.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
/** True in the daemons' bundles (src/release/daemons.ts), where esbuild defines it. */
declare const FOOBAR_BUNDLED: boolean | undefined;
/** Whether this code runs in one of the daemons' bundles (the backup agent's). */
export const IN_BUNDLE = typeof FOOBAR_BUNDLED === 'boolean' && FOOBAR_BUNDLED;
/**
 * The tool: this checkout's source, or in the bundled backup agent the bundle beside it (a
 * bundle's modules all sit in its one file).
 */
export const BACKUP_TOOL = IN_BUNDLE
  ? path.join(import.meta.dirname, 'backup.mjs')
  : path.join(REPO, 'src/backup/main.ts');

/** Where a host has the tool: its Node.js, and the tool's file (release/daemons.ts backupTool). */
export interface ToolPlace {
  readonly runtime: string;
  readonly file: string;
}

export const backup = {
  /**
   * A full physical backup of a replica to standard output (mbstream). --safe-slave-backup stops
   * the replica's SQL thread while the copy is made consistent (no temporary tables half-way);
   * --slave-info records where it was in the primary's history.
   */
  stream: (backupConfig: string, tmpDir: string): Command => ({
    argv: [
      'mariadb-backup',
      `--defaults-file=${backupConfig}`,
      '--backup',
      '--safe-slave-backup',
      '--slave-info',
      '--stream=mbstream',
      `--target-dir=${tmpDir}`,
    ],
  }),
  /** Follows a server's binary log from `file` on, writing each file as it is (raw) under `dir`. */
  follow: (
    clientConfig: string,
    server: { address: string; port: number },
    dir: string,
    file: string,
    serverId: number,
  ): Command => ({
    argv: [
      'mariadb-binlog',
      `--defaults-file=${clientConfig}`,
      '--read-from-remote-server',
      `--host=${server.address}`,
      `--port=${server.port}`,
      '--raw',
      '--stop-never',
      `--stop-never-slave-server-id=${serverId}`,
      `--result-file=${dir}/`,
      file,
    ],
  }),
  /** A binary log file as SQL text, to replay (its row events as BINLOG statements). */
  text: (
    file: string,
    range: { from?: string; stopGtid?: string; stopTime?: string } = {},
  ): Command => ({
    argv: [
      'mariadb-binlog',
      '--no-defaults',
      ...(range.from === undefined || range.from === '' ? [] : [`--start-position=${range.from}`]),
      ...(range.stopGtid === undefined ? [] : [`--stop-position=${range.stopGtid}`]),
      ...(range.stopTime === undefined ? [] : [`--stop-datetime=${range.stopTime}`]),
      file,
    ],
  }),
  /**
   * A binary log file's events, their heads and statements but not their rows: what its span
   * is read from (catalog.ts). The rows, printed as base64, are nearly all of `text`'s output (a
   * bulk load's 137 MB file: 189 MB of text, 4.5 MB without them; the heads are the same).
   */
  heads: (file: string): Command => ({
    argv: ['mariadb-binlog', '--no-defaults', '--base64-output=DECODE-ROWS', file],
  }),
  /** Unpacks an mbstream from standard input into a directory (which exists). */
  unpack: (dir: string, timeoutMs = 600_000): Command => ({
    argv: ['mbstream', '-x', '-C', dir],
    timeoutMs,
  }),
  /** foobar's backup tool on a host: `node src/backup/main.ts ARGS...` (or its bundle). */
  tool: (place: ToolPlace, args: readonly string[], timeoutMs = 600_000): Command => ({
    argv: [place.runtime, place.file, ...args],
    timeoutMs,
  }),
};
