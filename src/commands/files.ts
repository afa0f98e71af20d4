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
  /**
   * Prints "<sha256>  <path>" per file under `dir` but `dir/except` (a file of that name deeper
   * down is checksummed, as checksumTree does when it makes a manifest): one process asked (find
   * runs sha256sum itself, on as many files at once as fit), one round trip on machines.
   */
  sha256Tree: (dir: string, except: string): Command => ({
    argv: [
      'find',
      dir,
      '-type',
      'f',
      '!',
      '-path',
      `${dir}/${except}`,
      '-exec',
      'sha256sum',
      '--',
      '{}',
      '+',
    ],
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
  /**
   * A host's logs as `foobar logs` shows them: first `journal` (machines: the units' journal,
   * `journalctl` with its units and no other option), then the last `lines` lines of each file,
   * read back through its rotated generations (the lab's `FILE.<time>`, logrotate's
   * `FILE.<time>.gz`, sorted by name is sorted by time) when the live file holds fewer. With
   * `follow`, each then goes on from where it was shown, nothing lost in between: the journal
   * after the cursor of its last entry shown, the files with `tail -n N -F` (which shows their
   * live part, then follows each across its rotation), their rotated part shown before; and it
   * ends when its standard input closes (Command.endsWithInput), its followers with it.
   * Each source under a `==> NAME <==` header when there are several.
   */
  logs: (
    paths: readonly string[],
    options: {
      readonly lines: number;
      readonly follow: boolean;
      readonly journal?: { readonly name: string; readonly argv: readonly string[] };
    },
  ): Command => {
    const { journal, follow } = options;
    const quoted = paths.map(quoteArg).join(' ');
    const headers = paths.length + (journal === undefined ? 0 : 1) > 1;
    const header = (name: string): string => (headers ? `printf '==> %s <==\\n' ${name}; ` : '');
    const journalctl = journal === undefined ? '' : quoteArgv(journal.argv);
    // The last `need` lines of a file's generations, older first, before `$f` (or before its
    // last `need` lines of its own when `$f` is counted too).
    const generations = (from: string): string[] => [
      '  parts=',
      `  for g in ${from}$(ls -r "$f".[0-9]* 2>/dev/null); do`,
      '    [ "$need" -gt 0 ] || break',
      '    [ -e "$g" ] || continue',
      '    parts="$g $parts"',
      '    need=$((need - $(gzip -cdf "$g" 2>/dev/null | wc -l)))',
      '  done',
    ];
    const script = follow
      ? [
          // Its followers run in the background: a background command ignores Ctrl-C here, so
          // they are stopped on the way out, however it ends.
          'exec 3<&0',
          "trap 'kill $t $j $w 2>/dev/null' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP",
          ...(journal === undefined
            ? []
            : [
                `out=$(${journalctl} --lines=$n --show-cursor)`,
                `c=$(printf '%s\\n' "$out" | sed -n 's/^-- cursor: //p')`,
                `${header(quoteArg(journal.name))}printf '%s\\n' "$out" | grep -v '^-- cursor: '`,
              ]),
          `for f in ${quoted}; do`,
          '  live=$(wc -l 2>/dev/null < "$f" || echo 0); need=$((n - live))',
          ...generations(''),
          '  [ -n "$parts" ] || continue',
          `  ${header('"$f (rotated)"')}for g in $parts; do gzip -cdf "$g" 2>/dev/null; done | tail -n $((n - live))`,
          'done',
          ...(journal === undefined
            ? []
            : [
                `if [ -n "$c" ]; then ${journalctl} --follow --after-cursor="$c" & else ${journalctl} --follow --lines=0 & fi`,
                'j=$!',
              ]),
          `tail -n $n ${headers ? '' : '-q '}-F ${quoted} &`,
          't=$!',
          // Its caller gone (standard input closed: Command.endsWithInput), it ends: over SSH
          // without a terminal nothing else tells it, until a line to write finds no reader.
          '{ cat <&3 >/dev/null 2>&1; kill -TERM $$ 2>/dev/null; } >/dev/null 2>&1 &',
          'w=$!',
          'wait $t',
        ]
      : [
          ...(journal === undefined
            ? []
            : [`${header(quoteArg(journal.name))}${journalctl} --lines=$n`]),
          `for f in ${quoted}; do`,
          '  [ -e "$f" ] || ls "$f".[0-9]* >/dev/null 2>&1 || continue',
          `  ${header('"$f"')}need=$n`,
          // The live file, then its generations newest first, until they hold enough lines.
          ...generations('"$f" '),
          '  for g in $parts; do gzip -cdf "$g" 2>/dev/null; done | tail -n $n',
          'done',
        ];
    return {
      argv: ['sh', '-c', [`n=${String(options.lines)}`, ...script].join('\n')],
      readOnly: true,
      ...(follow ? { endsWithInput: true } : {}),
    };
  },
  /** Removes each directory, innermost first, only while it is empty. */
  removeEmptyDirs: (dirs: readonly string[]): Command => ({
    argv: ['rmdir', '--ignore-fail-on-non-empty', '--', ...dirs],
  }),
};
