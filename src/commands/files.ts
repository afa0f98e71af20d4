/** File ownership and checksums on a host. */
import type { Command } from '../drivers/driver.ts';

export const files = {
  chown: (owner: string, file: string): Command => ({ argv: ['chown', owner, file] }),
  /** Prints "<sha256>  <path>" per file. */
  sha256: (paths: readonly string[]): Command => ({ argv: ['sha256sum', '--', ...paths] }),
  /** Every regular file below a directory, one per line. */
  listFiles: (dir: string): Command => ({ argv: ['find', dir, '-type', 'f'] }),
  /** Removes each directory, innermost first, only while it is empty. */
  removeEmptyDirs: (dirs: readonly string[]): Command => ({
    argv: ['rmdir', '--ignore-fail-on-non-empty', '--', ...dirs],
  }),
};
