/**
 * The life of one daemon on one host: write its files, check its config, start it, reload it,
 * stop it. Every service (HAProxy, Nginx, the app, MariaDB, ...) is described as a Daemon and
 * driven by these functions, so up, down, status and logs treat them all alike. How a process is
 * launched and tracked is the platform's supervisor (pid files in the lab, systemd on machines).
 */
import type { Command, Target } from '../drivers/driver.ts';
import type { Signal } from '../commands/proc.ts';
import { files as fileCommands } from '../commands/files.ts';
import { parseListeners, ss } from '../commands/ss.ts';
import { waitFor } from '../lib/wait.ts';
import type { Context } from './context.ts';
import type { ReadFiles } from '../platform/platform.ts';

export interface RenderedFile {
  readonly path: string;
  readonly content: string;
  readonly mode?: number;
}

export interface OwnedDir {
  readonly path: string;
  /** User and group of that name. */
  readonly owner: string;
}

export interface Daemon {
  /** "haproxy", "nginx", "app", ... */
  readonly service: string;
  readonly host: string;
  /** The lab's record of its main process (machines ask systemd). */
  readonly pidFile: string;
  /** A string on the process's command line that only our instance has (its config path). */
  readonly marker: string;
  /** Written before a start or reload; a change in them triggers a reload. */
  readonly files: readonly RenderedFile[];
  /** Created before a start. */
  readonly dirs: readonly string[];
  /**
   * Directories under the run directory that another user must own (mariadbd's, owned by the
   * user it drops to): `prepare` makes them before foobar starts it; on machines the unit makes
   * them too, before every start, since a boot empties /run and starts the unit without foobar.
   */
  readonly ownedRunDirs?: readonly OwnedDir[];
  /**
   * Directories it writes besides the log and run ones (a unit of foobar's own on machines sees
   * the rest of the system read-only: these become its ReadWritePaths).
   */
  readonly writes?: readonly string[];
  /** Runs before every start: what the daemon needs that is not a rendered file. */
  readonly prepare?: (ctx: Context) => Promise<void>;
  /**
   * Runs after every stop, whether it was running or not: what a crashed daemon may have left
   * behind (keepalived's virtual addresses stay configured when it is killed).
   */
  readonly afterStop?: (ctx: Context) => Promise<void>;
  /** The daemon's own config checks, run before any start or reload. */
  readonly checks?: readonly Command[];
  /**
   * Runs in the foreground: foobar detaches it, sends its output to `outputLog` and writes the
   * pid file, so every daemon is started, tracked and stopped the same way.
   */
  readonly start: Command;
  /** The unprivileged user it runs as, when it does not drop privileges itself. */
  readonly user?: string;
  /**
   * Its systemd unit on machines: Debian's where the package has one, else a unit of foobar's
   * (default: foobar-SERVICE.service).
   */
  readonly unit?: string;
  readonly outputLog: string;
  readonly env?: Readonly<Record<string, string>>;
  /** The signal that makes it re-read its config without dropping connections; none: restart. */
  readonly reloadSignal?: Signal;
  /**
   * Makes it read its config again and resolves once it has, or throws why not: for a daemon
   * that answers for its own reload (Prometheus' POST /-/reload) rather than by new workers.
   * Used instead of `reloadSignal`.
   */
  readonly reload?: (ctx: Context) => Promise<void>;
  /** A reload is only over once the old workers have exited (they may hold the old config's upstreams). */
  readonly reloadDrains?: boolean;
  readonly stopSignal: Signal;
  /**
   * On machines, false: systemd never restarts it when it dies (the unit says `Restart=no`,
   * whatever Debian's says). A database server's death is the failover managers' to act on.
   */
  readonly restartsOnCrash?: false;
  /**
   * True: it writes a line per request to its output (HAProxy's access log). On machines its
   * unit raises the journal's rate limit (10,000 lines in 30 s a unit by default, which would
   * drop most visitors' lines at a busy site) past what it can write; the journal's size limits
   * still hold (render/systemd's REQUEST_LOG_RATE_LIMIT).
   */
  readonly logsEachRequest?: true;
  /**
   * True: it makes its output non-blocking with F_SETFL (HAProxy 2.6's `log stdout`), which also
   * clears the O_APPEND the lab opened its output file with, so after the log rotator's truncate
   * it would write on at its old offset (a sparse file the size of that offset). In the lab its
   * output is a pipe to an appender (platform/lab/appender.ts, its output the file with O_APPEND)
   * instead.
   */
  readonly outputNonBlocking?: true;
  /** Undefined when the daemon answers as it should; otherwise what is wrong. */
  readonly probe: (ctx: Context) => Promise<string | undefined>;
  /**
   * The Prometheus job whose scrape of this host asks what `probe` asks (an exporter's page):
   * `status` takes a fresh successful scrape for an answer instead of probing again.
   */
  readonly scrapedAs?: string;
  /** TCP ports it listens on: checked free before a start, so a stray process is named. */
  readonly ports?: readonly number[];
  /** Log files, for `foobar logs`. */
  readonly logs: readonly string[];
  /**
   * The signal on which it reopens its `logs` (Nginx: USR1): the lab's log rotator renames them
   * and sends it. Without one, they are copied and truncated in place.
   */
  readonly reopenLogsSignal?: Signal;
  readonly startTimeoutMs?: number;
}

/**
 * A value computed the first time it is asked for, then kept: a daemon's rendered files and the
 * command that names its bundle, which only a start, a reload or a comparison needs. `status`,
 * `logs` and `down` build every daemon of every host and never read them (the monitor's YAML
 * and the bundles' key took a cold command about 100 ms). Used as a getter in the daemon's
 * literal (`get files() { return rendered(); }`), so a spread of the daemon computes it.
 */
export function once<T>(compute: () => T): () => T {
  let value: { readonly v: T } | undefined;
  return () => (value ??= { v: compute() }).v;
}

/**
 * The Go runtime's settings for the Go daemons (etcd, Prometheus, Alertmanager, the exporters):
 * collect when the heap has grown by half since the last collection instead of doubled. Their
 * live heaps are small (1–3 MB for an exporter, 20–40 MB for etcd and Prometheus), and with the
 * default each held about twice its live heap.
 */
export const GO_DAEMON_ENV: Readonly<Record<string, string>> = { GOGC: '50' };

export type DaemonOutcome = 'running' | 'started' | 'reloaded' | 'restarted';

/** "nginx reloaded, app started", or "up to date" when everything was already running. */
export function describeOutcomes(outcomes: Readonly<Record<string, string>>): string {
  const changed = Object.entries(outcomes).filter(([, outcome]) => outcome !== 'running');
  if (changed.length === 0) return 'up to date';
  return changed.map(([name, outcome]) => `${name} ${outcome}`).join(', ');
}

export async function runningPid(ctx: Context, daemon: Daemon): Promise<number | undefined> {
  return ctx.platform.supervisor.mainPid(ctx, daemon);
}

/** A `prepare` for a daemon that runs as `user` and writes its own log: the log exists, and is its. */
export function logOwnedBy(
  host: string,
  file: string,
  user: string,
): (ctx: Context) => Promise<void> {
  return async (ctx) => {
    if ((await ctx.driver.readFile(host, file)) === undefined) {
      await ctx.driver.writeFile(host, file, '', 0o640);
    }
    await ctx.driver.exec(host, fileCommands.chown(`${user}:${user}`, file));
  };
}

/**
 * Writes the files that differ from what is there; true when any did. They are read in one round
 * trip (or taken from `read`, when the caller read them already).
 */
export async function writeFiles(
  ctx: Context,
  host: Target,
  files: readonly RenderedFile[],
  read?: ReadFiles,
): Promise<boolean> {
  const unread = files.map((file) => file.path).filter((file) => read?.has(file) !== true);
  const current = new Map(read);
  const contents = unread.length === 0 ? [] : await ctx.driver.readFiles(host, unread);
  unread.forEach((file, i) => current.set(file, contents[i]));
  let changed = false;
  for (const file of files) {
    if (current.get(file.path) === file.content) continue;
    await ctx.driver.writeFile(host, file.path, file.content, file.mode);
    changed = true;
  }
  return changed;
}

/** The last reload asked of each service in this process: the next one of it waits for it. */
const reloading = new Map<string, Promise<unknown>>();

/**
 * Reloads of one service go one at a time across hosts (each over, its old workers gone, before
 * the next), whoever asks: a deploy's switch, `up`, a rollback. A tier never has all its members
 * reloading at once.
 *
 * Why (Nginx): a reloading Nginx's old workers close every kept-alive connection the load
 * balancers hold to it. HAProxy (`http-reuse always`) may already have sent a request on one, and
 * retries it (`retry-on`, `option redispatch 1`) on the other web server. Were both reloading,
 * that retry and the next ones could ride other closing connections too; once `retries` are spent
 * HAProxy 2.6 closes the visitor's kept-alive connection with no answer and no log line (haproxy
 * issue #3414), and the visitor sees ECONNRESET. One at a time, the retry lands on a web server
 * whose connections stay open (docs/decisions.md).
 */
export function oneReloadAtATime<T>(service: string, work: () => Promise<T>): Promise<T> {
  const run = (reloading.get(service) ?? Promise.resolve()).then(work, work);
  const settled = run.catch(() => undefined);
  reloading.set(service, settled);
  return run;
}

/** Brings the daemon to "running with its current config", doing as little as possible. */
export async function ensureDaemon(ctx: Context, daemon: Daemon): Promise<DaemonOutcome> {
  // A daemon in good order costs one round trip where the driver can survey (its directories
  // made, its files and the platform's read, its unit asked about), else a few: its directories
  // made at once while its files and the platform's (its unit) are read at once.
  const { supervisor } = ctx.platform;
  const paths = [
    ...daemon.files.map((file) => file.path),
    ...(supervisor.installs?.(daemon) ?? []),
  ];
  const asks = supervisor.asks?.(daemon);
  const surveyed =
    ctx.driver.survey === undefined || asks === undefined
      ? undefined
      : await ctx.driver.survey(daemon.host, { dirs: daemon.dirs, files: paths, command: asks });
  const contents =
    surveyed?.contents ??
    (
      await Promise.all([
        ctx.driver.mkdirs(daemon.host, daemon.dirs),
        ctx.driver.readFiles(daemon.host, paths),
      ])
    )[1];
  const read: ReadFiles = new Map(paths.map((file, i) => [file, contents[i]]));
  const changed = await writeFiles(ctx, daemon.host, daemon.files, read);
  const { changed: unitChanged, pid } =
    supervisor.installed === undefined
      ? {
          changed: await supervisor.install(ctx, daemon, read),
          pid: await runningPid(ctx, daemon),
        }
      : await supervisor.installed(ctx, daemon, read, surveyed?.result);
  if (pid !== undefined && !changed && !unitChanged) return 'running';
  const reloads =
    (daemon.reloadSignal !== undefined || daemon.reload !== undefined) && !unitChanged;
  if (ctx.planning !== undefined) {
    const action = pid === undefined ? 'start' : reloads ? 'reload' : 'restart';
    ctx.planning.action(daemon.host, `${daemon.service}: ${action}`);
    return action === 'start' ? 'started' : action === 'reload' ? 'reloaded' : 'restarted';
  }
  for (const check of daemon.checks ?? []) await ctx.driver.exec(daemon.host, check);
  if (pid !== undefined) {
    if (reloads) {
      await oneReloadAtATime(daemon.service, async () => {
        if (daemon.reload === undefined) await ctx.platform.supervisor.reload(ctx, daemon, pid);
        else await daemon.reload(ctx);
        await waitReady(ctx, daemon);
      });
      return 'reloaded';
    }
    await stopDaemon(ctx, daemon);
    await startDaemon(ctx, daemon);
    return 'restarted';
  }
  await startDaemon(ctx, daemon);
  return 'started';
}

export async function startDaemon(ctx: Context, daemon: Daemon): Promise<void> {
  for (const port of daemon.ports ?? []) await ensurePortFree(ctx, daemon, port);
  await daemon.prepare?.(ctx);
  const mark = await ctx.platform.supervisor.launch(ctx, daemon);
  await waitReady(ctx, daemon, mark);
}

async function ensurePortFree(ctx: Context, daemon: Daemon, port: number): Promise<void> {
  const result = await ctx.driver.exec(daemon.host, ss.listeners(port), { check: false });
  const holders = parseListeners(result.stdout);
  const holder = holders[0];
  if (holder === undefined) return;
  throw new Error(
    `port ${port} on ${daemon.host} is taken by pid ${holder.pid} (${holder.program}), which foobar did not start as ${daemon.service}: ` +
      `stop it (foobar exec ${daemon.host} -- kill ${holder.pid}), or run foobar down and foobar up`,
  );
}

async function waitReady(ctx: Context, daemon: Daemon, mark?: number): Promise<void> {
  const what = `${daemon.host}: ${daemon.service}`;
  try {
    await waitFor(
      what,
      async () => {
        if ((await runningPid(ctx, daemon)) === undefined) {
          if (!(await ctx.platform.supervisor.starting(ctx, daemon))) {
            throw new Error(
              `${what} exited while starting${await startupOutput(ctx, daemon, mark)}`,
            );
          }
          return 'starting';
        }
        return daemon.probe(ctx);
      },
      // Probed at least every 200 ms: a daemon ready in a second is seen within a fifth of one,
      // not up to half a second later (the app's start in a deploy: 1.3–1.5 s seen, 0.8–1 s real).
      { timeoutMs: daemon.startTimeoutMs ?? 15_000, maxIntervalMs: 200 },
    );
  } catch (error) {
    const message = (error as Error).message;
    if (message.includes('exited while starting')) throw error;
    throw new Error(`${message}${await startupOutput(ctx, daemon, mark)}`, { cause: error });
  }
}

/**
 * What the daemon printed since `mark` (its start): the first lines carry the error, the last
 * ones where it ended. Without a mark, the end of its output.
 */
async function startupOutput(
  ctx: Context,
  daemon: Daemon,
  mark: number | undefined,
): Promise<string> {
  const output = await ctx.platform.supervisor.output(ctx, daemon, mark);
  const lines = output.lines.filter((line) => line.trim() !== '');
  if (lines.length === 0) return '';
  const shown = lines.length > 12 ? [...lines.slice(0, 8), '...', ...lines.slice(-3)] : lines;
  return `\n${output.source}:\n  ${shown.join('\n  ')}`;
}

/** Stops the daemon if it runs: its stop signal, then SIGKILL after the grace period. */
export async function stopDaemon(ctx: Context, daemon: Daemon, graceMs = 10_000): Promise<boolean> {
  const ran = await ctx.platform.supervisor.stop(ctx, daemon, graceMs);
  await daemon.afterStop?.(ctx);
  return ran;
}

/**
 * stopDaemon of several daemons of one host, in order: in one batch where the platform has one
 * (machines), else all at once. True for each that ran.
 */
export async function stopDaemons(
  ctx: Context,
  host: string,
  daemons: readonly Daemon[],
  graceMs = 10_000,
): Promise<boolean[]> {
  const { supervisor } = ctx.platform;
  const ran =
    supervisor.stopMany === undefined
      ? await Promise.all(daemons.map((d) => supervisor.stop(ctx, d, graceMs)))
      : await supervisor.stopMany(ctx, host, daemons, graceMs);
  await Promise.all(daemons.map(async (d) => d.afterStop?.(ctx)));
  return ran;
}

/**
 * Kills the daemon outright with SIGKILL, master first so it cannot replace its workers, then the
 * workers: a crash, for tests and drills.
 */
export async function killDaemon(ctx: Context, daemon: Daemon): Promise<number | undefined> {
  return ctx.platform.supervisor.kill(ctx, daemon);
}
