/**
 * The command lines of the SSH driver, as data: the options every `ssh` gets, the one string the
 * remote shell reads, and the small POSIX sh scripts that do the driver's file work on the host.
 * The scripts are constants: paths and modes reach them as positional arguments, content on
 * standard input, so nothing is ever quoted twice or placed in a command line.
 */
import type { SshDestination } from '../model/model.ts';
import { quoteArgv } from './quote.ts';

export interface SshSettings {
  /** Where host keys are pinned: first contact adds the key, a changed key is refused. */
  readonly knownHostsFile: string;
  /** A directory of this machine for the master connections' sockets (short: a socket path is at most 107 bytes). */
  readonly controlDir: string;
  /** An ssh_config read instead of ~/.ssh/config (ssh -F). */
  readonly configFile?: string;
  /** A master connection with no session for this long closes itself (if foobar died without closing it). */
  readonly idleSeconds?: number;
}

const DEFAULT_IDLE_SECONDS = 120;

/** The control socket of a host's master connection. Host names are short and plain (HOST_NAME). */
export function controlPath(settings: SshSettings, host: string): string {
  return `${settings.controlDir}/${host}`;
}

/**
 * Options of every ssh run for `host`. The pinned key is looked up under the host's name in the
 * model (HostKeyAlias), so a machine moved to another address keeps its key, and a new machine
 * under an old name is refused until its old key is removed. Anything not set here (identity,
 * agent, ProxyJump, ciphers...) comes from the SSH config, as with `ssh` itself.
 */
export function sshOptions(
  settings: SshSettings,
  host: string,
  to: SshDestination,
  fresh?: { readonly connectTimeoutSeconds: number },
): string[] {
  const option = (name: string, value: string | number): string[] => ['-o', `${name}=${value}`];
  return [
    ...(settings.configFile === undefined ? [] : ['-F', settings.configFile]),
    ...(to.user === undefined ? [] : ['-l', to.user]),
    ...(to.port === undefined ? [] : ['-p', String(to.port)]),
    // Never a prompt: a question nobody can answer would hang foobar.
    ...option('BatchMode', 'yes'),
    ...option('UserKnownHostsFile', settings.knownHostsFile),
    ...option('GlobalKnownHostsFile', '/dev/null'),
    ...option('StrictHostKeyChecking', 'accept-new'),
    ...option('HostKeyAlias', host),
    ...option('HashKnownHosts', 'no'),
    ...option('UpdateHostKeys', 'no'),
    ...option('CheckHostIP', 'no'),
    // `fresh`: a connection of its own, never the master's (ssh takes an option's first value).
    ...(fresh === undefined
      ? [
          ...option('ControlMaster', 'auto'),
          ...option('ControlPath', controlPath(settings, host)),
          ...option('ControlPersist', settings.idleSeconds ?? DEFAULT_IDLE_SECONDS),
        ]
      : [...option('ControlMaster', 'no'), ...option('ControlPath', 'none')]),
    ...option('ConnectTimeout', fresh?.connectTimeoutSeconds ?? 10),
    // A machine that stops answering (rebooted, cut off) is given up after 15 s, not two hours.
    ...option('ServerAliveInterval', 5),
    ...option('ServerAliveCountMax', 3),
    // Keeps "Permanently added ... to the list of known hosts" out of every command's stderr.
    ...option('LogLevel', 'ERROR'),
  ];
}

/** `ssh OPTIONS EXTRA -- DESTINATION`: what precedes the remote command. */
export function sshArgv(
  settings: SshSettings,
  host: string,
  to: SshDestination,
  extra: readonly string[] = [],
): string[] {
  return ['ssh', ...sshOptions(settings, host, to), ...extra, '--', to.host];
}

/** Extra time a command gets after SIGTERM before SIGKILL, on the host. */
const KILL_AFTER_SECONDS = 2;

/**
 * The one string the remote shell runs: the argv quoted once. With a timeout, coreutils' `timeout`
 * on the host ends the command there (killing the local ssh would leave it running).
 */
export function remoteCommand(argv: readonly string[], timeoutMs?: number): string {
  return quoteArgv(timeoutMs === undefined ? argv : timedArgv(argv, timeoutMs));
}

/** argv under coreutils' `timeout`: TERM after `timeoutMs`, KILL a little later. */
export function timedArgv(argv: readonly string[], timeoutMs: number): string[] {
  const seconds = (Math.max(timeoutMs, 1) / 1000).toFixed(3);
  return ['timeout', '-k', String(KILL_AFTER_SECONDS), seconds, ...argv];
}

/** `timeout` exits with these when it ended the command (TERM, then KILL). */
export const TIMED_OUT_EXITS: readonly number[] = [124, 137];

/** The first line of a pipe side's stderr: its process group on the host. */
export const PIPE_SIDE_GROUP = 'foobar-process-group';

/**
 * $1... a side of a pipe (driver.pipe), already under `timeout`. Its first line on stderr names its
 * process group, which `timeout` leads (it makes itself a group leader and its command joins):
 * when the other side fails, foobar ends the whole group on the host with `kill -KILL -- -N`, as
 * closing the session alone would not end a command that neither reads nor writes.
 */
export const PIPE_SIDE = `echo "${PIPE_SIDE_GROUP} $$" >&2
exec "$@"`;

/** A driver script's exit status for "no such file" (EX_NOINPUT), never one of its commands'. */
export const ABSENT = 66;

/** Runs `script` with sh; `args` become $1, $2... */
export function shArgv(script: string, ...args: readonly string[]): string[] {
  return ['sh', '-c', script, 'sh', ...args];
}

/**
 * $1 file, $2 octal mode, $3 its size in bytes; the content on stdin. A temporary file beside it
 * (0600 from mktemp, so a secret is never readable while written), checked for size (a cut
 * connection ends stdin early), its mode set, then renamed over the file: readers see the old
 * content or the new, never a part.
 */
export const WRITE_FILE = `set -e
mkdir -p -- "$(dirname -- "$1")"
t=$(mktemp -- "$1.XXXXXXXX")
trap 'rm -f -- "$t"' EXIT
cat >"$t"
size=$(wc -c <"$t")
if [ "$size" -ne "$3" ]; then echo "received $size of $3 bytes" >&2; exit 1; fi
chmod -- "$2" "$t"
mv -f -- "$t" "$1"
trap - EXIT`;

/** $1 file, $2 octal mode (applied when the file is created); the text on stdin, appended (O_APPEND). */
export const APPEND_FILE = `set -e
mkdir -p -- "$(dirname -- "$1")"
if [ ! -e "$1" ]; then (umask 077 && : >>"$1") && chmod -- "$2" "$1"; fi
cat >>"$1"`;

/** $1 file: its content, or exit ${ABSENT} when there is none (also a /proc file whose process is gone). */
export const READ_FILE = `cat -- "$1" && exit 0
[ -e "$1" ] && exit 1
exit ${ABSENT}`;

/** One file `$f` of READ_FILES. */
const READ_ONE = `if b=$(base64 -w0 -- "$f" 2>/dev/null); then printf '+%s\\n' "$b"
  elif [ -e "$f" ]; then echo "cannot read $f" >&2; exit 1
  else echo -; fi`;

/**
 * $1... files: one line each, in order: `+` and its content in base64 (any bytes, one line), or
 * `-` when there is none (as READ_FILE's ${ABSENT}). One that exists but cannot be read fails the
 * whole read with exit 1, naming it.
 */
export const READ_FILES = `for f do ${READ_ONE}; done`;

/**
 * bash: $1 the number of directories, then they (made as mkdirs makes them); then the number of
 * files, then they (printed as READ_FILES prints them); then a command's argv, run last: its
 * output follows the files' lines, and its exit status is the script's.
 */
export const SURVEY = `nd=$1; shift
if (( nd > 0 )); then mkdir -p -m 0755 -- "\${@:1:nd}" || exit 1; fi
shift "$nd"; nf=$1; shift
for f in "\${@:1:nf}"; do ${READ_ONE}; done
shift "$nf"
exec "$@"`;

/** $1 link: its target, or exit ${ABSENT} when there is no such file. */
export const READ_LINK = `[ -L "$1" ] && exec readlink -- "$1"
[ -e "$1" ] && { echo "$1 is not a symbolic link" >&2; exit 1; }
exit ${ABSENT}`;

/** $1 target, $2 link: a new link beside the old one, renamed over it (never a moment without). */
export const SYMLINK = `set -e
t="$2.foobar-$$"
rm -f -- "$t"
ln -s -- "$1" "$t"
mv -fT -- "$t" "$2"`;

/**
 * $1 directory; a tar stream on stdin. Unpacked beside the directory, then swapped in: readers see
 * the old tree or the new one. Files belong to the SSH user, as files written by the driver do.
 */
export const UNPACK_DIR = `set -e
to=\${1%/}
mkdir -p -- "$(dirname -- "$to")"
new=$(mktemp -d -- "$to.new.XXXXXXXX")
trap 'rm -rf -- "$new"' EXIT
tar -x --no-same-owner -C "$new" -f -
old=
if [ -e "$to" ] || [ -L "$to" ]; then old=$(mktemp -u -- "$to.old.XXXXXXXX"); mv -- "$to" "$old"; fi
mv -- "$new" "$to"
trap - EXIT
if [ -n "$old" ]; then rm -rf -- "$old"; fi`;

/**
 * $1 log file, $2 working directory, $3 environment file ("" for none), $4 unit name, then the
 * argv. The process outlives the SSH session: a transient systemd unit where systemd runs the host
 * (its journal and cgroup, `systemctl status NAME`), otherwise its own session (setsid) with no
 * terminal. Standard output and error are appended to the log. Prints the process's PID.
 */
export const SPAWN = `set -e
log=$1 cwd=$2 envfile=$3 unit=$4
shift 4
mkdir -p -- "$(dirname -- "$log")"
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; then
  set -- --unit="$unit" --collect --quiet -p "StandardOutput=append:$log" \\
    -p "StandardError=append:$log" -p "WorkingDirectory=$cwd" "$@"
  if [ -n "$envfile" ]; then set -- -p "EnvironmentFile=$envfile" "$@"; fi
  systemd-run "$@" </dev/null >&2
  systemctl show -p MainPID --value -- "$unit.service"
  exit 0
fi
cd -- "$cwd"
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
  sh -c 'if [ -n "$1" ]; then set -a; . "$1"; set +a; fi; shift; exec setsid "$@"' sh "$envfile" "$@" \\
  </dev/null >>"$log" 2>&1 &
echo $!`;

/**
 * bash: $1 file, $2 seconds between looks (a decimal). Every look writes one frame ended by a NUL:
 * `+` and the file's bytes when they changed since the last frame, `.` when they did not, `-` when
 * there is no such file, `!` when it cannot be read. Nothing but builtins runs in the loop (no
 * process per look), and it waits on its standard input: the session's end (foobar's side closed
 * or gone) ends it at once. bash, not sh: `mapfile`, `printf -v` and `read -t` with a fraction.
 */
export const FOLLOW_FILE = `f=$1 every=$2 last=
while :; do
  if [[ ! -e $f ]]; then cur=-
  elif { mapfile l <"$f"; } 2>/dev/null; then printf -v cur %s "\${l[@]}"; cur=+$cur
  else cur='!'; fi
  if [[ $cur == "$last" ]]; then printf '.\\0'; else printf '%s\\0' "$cur"; last=$cur; fi
  read -r -t "$every" _
  (( $? > 128 )) || exit 0
done`;
