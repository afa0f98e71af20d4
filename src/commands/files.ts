/** File ownership, moves and checksums on a host. */
import type { Command } from '../drivers/driver.ts';

export const files = {
  chown: (owner: string, file: string): Command => ({ argv: ['chown', owner, file] }),
  /** Owner of a whole tree (a data directory). */
  chownTree: (owner: string, dir: string): Command => ({ argv: ['chown', '-R', owner, dir] }),
  /** Renames a directory onto a path that must not exist (-T: never moves it inside one). */
  move: (from: string, to: string): Command => ({ argv: ['mv', '-T', '--', from, to] }),
  /** Exit 0 when the path is a directory. */
  isDir: (dir: string): Command => ({ argv: ['test', '-d', dir], readOnly: true }),
  /** Prints "<sha256>  <path>" per file. */
  sha256: (paths: readonly string[]): Command => ({
    argv: ['sha256sum', '--', ...paths],
    readOnly: true,
  }),
  /** The directories right below `dir`: "<name> <mtime in seconds>" per line. */
  listDirs: (dir: string): Command => ({
    argv: ['find', dir, '-mindepth', '1', '-maxdepth', '1', '-type', 'd', '-printf', '%f %T@\\n'],
    readOnly: true,
  }),
  size: (file: string): Command => ({ argv: ['stat', '-c', '%s', file], readOnly: true }),
  /** The last lines of a file. */
  tail: (file: string, lines: number): Command => ({
    argv: ['tail', '-n', String(lines), file],
    readOnly: true,
  }),
  /** A file from a byte offset on (what was appended since). */
  from: (file: string, offset: number): Command => ({
    argv: ['tail', '-c', `+${offset + 1}`, file],
    readOnly: true,
  }),
  /** Prints the file when it was last modified more than `seconds` ago, by the host's clock. */
  olderThan: (file: string, seconds: number): Command => ({
    argv: ['find', file, '-maxdepth', '0', '!', '-newermt', `${seconds} seconds ago`],
    readOnly: true,
  }),
  /** Every regular file below a directory, one per line. */
  listFiles: (dir: string): Command => ({ argv: ['find', dir, '-type', 'f'], readOnly: true }),
  /** Removes each directory, innermost first, only while it is empty. */
  removeEmptyDirs: (dirs: readonly string[]): Command => ({
    argv: ['rmdir', '--ignore-fail-on-non-empty', '--', ...dirs],
  }),
};
