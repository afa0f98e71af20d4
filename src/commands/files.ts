/** File ownership, moves and checksums on a host. */
import type { Command } from '../drivers/driver.ts';
import { quoteArg, quoteArgv } from '../drivers/quote.ts';

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
  /**
   * A host's logs as `foobar logs` shows them: first `journal` (machines: the units' journal),
   * then the last `lines` lines of each file, read back through its rotated generations (the
   * lab's `FILE.<time>`, logrotate's `FILE.<time>.gz`, sorted by name is sorted by time) when
   * the live file holds fewer; with `follow`, then what each gets next (tail -F follows a file
   * across its rotation). Each source under a `==> NAME <==` header when there are several.
   */
  logs: (
    paths: readonly string[],
    options: {
      readonly lines: number;
      readonly follow: boolean;
      readonly journal?: {
        readonly name: string;
        readonly read: Command;
        readonly follow: Command;
      };
    },
  ): Command => {
    const { journal, follow } = options;
    const quoted = paths.map(quoteArg).join(' ');
    const headers = paths.length + (journal === undefined ? 0 : 1) > 1;
    const header = (name: string): string => (headers ? `printf '==> %s <==\\n' ${name}; ` : '');
    const script = [
      ...(journal === undefined
        ? []
        : [`${header(quoteArg(journal.name))}${quoteArgv(journal.read.argv)}`]),
      `n=${String(options.lines)}`,
      `for f in ${quoted}; do`,
      '  [ -e "$f" ] || ls "$f".[0-9]* >/dev/null 2>&1 || continue',
      `  ${header('"$f"')}need=$n; parts=`,
      // The live file, then its generations newest first, until they hold enough lines.
      '  for g in "$f" $(ls -r "$f".[0-9]* 2>/dev/null); do',
      '    [ "$need" -gt 0 ] || break',
      '    [ -e "$g" ] || continue',
      '    parts="$g $parts"',
      '    need=$((need - $(gzip -cdf "$g" 2>/dev/null | wc -l)))',
      '  done',
      '  for g in $parts; do gzip -cdf "$g" 2>/dev/null; done | tail -n "$n"',
      'done',
      ...(!follow
        ? []
        : [
            ...(journal === undefined
              ? []
              : [
                  // A background command ignores Ctrl-C here: it is stopped on the way out.
                  `${quoteArgv(journal.follow.argv)} & j=$!`,
                  `trap 'kill $j 2>/dev/null' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP`,
                ]),
            `tail -n 0 ${headers ? '' : '-q '}-F ${quoted}`,
          ]),
    ].join('\n');
    return { argv: ['sh', '-c', script], readOnly: true };
  },
  /** Removes each directory, innermost first, only while it is empty. */
  removeEmptyDirs: (dirs: readonly string[]): Command => ({
    argv: ['rmdir', '--ignore-fail-on-non-empty', '--', ...dirs],
  }),
};
