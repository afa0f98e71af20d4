/**
 * Where the model runs. Everything above this line (model, renderers, steps, probes) is shared; a
 * platform says how hosts are reached (its driver), how daemons are supervised, and how hosts come
 * to exist and go away. Two today: the lab (network namespaces on this machine, daemons tracked by
 * pid files) and machines (Debian servers over SSH, daemons as systemd units). Where files live is
 * the model's layout (src/model/layout.ts), one per platform, since renderers need the paths too.
 */
import type { Command, Driver, ExecResult, Target } from '../drivers/driver.ts';
import type { Context, DirectAccess, SqlTransport } from '../steps/context.ts';
import type { Daemon } from '../steps/daemon.ts';
import type { Phase, Task } from '../steps/plan.ts';

export interface LogOptions {
  readonly lines: number;
  readonly follow: boolean;
}

/** Contents already read from a host, by path (undefined: no such file). */
export type ReadFiles = ReadonlyMap<string, string | undefined>;

/** How a daemon is started, tracked, reloaded, stopped and read, the same way for every service. */
export interface Supervisor {
  /**
   * Makes the platform's description of the daemon current (machines: its unit or drop-in);
   * true when it changed, so a running daemon must restart to take it.
   */
  install(ctx: Context, daemon: Daemon, read?: ReadFiles): Promise<boolean>;
  /**
   * The files `install` reads (machines: the unit file), so ensureDaemon reads them in the same
   * round trip as the daemon's own and hands them to `install` in `read`.
   */
  installs?(daemon: Daemon): readonly string[];
  /**
   * `install`, then `mainPid`, in fewer round trips (machines: the unit's enablement and state in
   * one): what ensureDaemon uses when the platform has it.
   */
  installed?(
    ctx: Context,
    daemon: Daemon,
    read?: ReadFiles,
    asked?: ExecResult,
  ): Promise<{ readonly changed: boolean; readonly pid: number | undefined }>;
  /**
   * The read-only command `installed` asks (machines: the unit's enablement and state), so
   * ensureDaemon can ask it in the round trip that reads the files and hand its answer over in
   * `asked` (Driver.survey).
   */
  asks?(daemon: Daemon): Command;
  /** The daemon's main process if it runs as ours; undefined otherwise. */
  mainPid(ctx: Context, daemon: Daemon): Promise<number | undefined>;
  /**
   * mainPid of several daemons of one host, in order, in one round trip (machines: one `systemctl
   * show` of every unit). Where a question costs no round trip (the lab's PID files), absent.
   */
  mainPids?(
    ctx: Context,
    host: string,
    daemons: readonly Daemon[],
  ): Promise<(number | undefined)[]>;
  /** Launches it; resolves to a mark to read its startup output from (see `output`). */
  launch(ctx: Context, daemon: Daemon): Promise<number>;
  /** After a launch, before it answers: false once it has exited (or failed to start). */
  starting(ctx: Context, daemon: Daemon): Promise<boolean>;
  /** Makes it re-read its config without dropping connections; resolves once the new config is live. */
  reload(ctx: Context, daemon: Daemon, pid: number): Promise<void>;
  /** Stops it if it runs (its stop signal, then SIGKILL after the grace period); true if it ran. */
  stop(ctx: Context, daemon: Daemon, graceMs: number): Promise<boolean>;
  /**
   * `stop` of several daemons of one host, in order, in fewer round trips (machines: one
   * `systemctl show`, one `stop`, one `disable` for them all). Absent where each stop costs no
   * round trip of its own (the lab's signals).
   */
  stopMany?(
    ctx: Context,
    host: string,
    daemons: readonly Daemon[],
    graceMs: number,
  ): Promise<boolean[]>;
  /** Makes sure nothing brings it back until foobar starts it again (a fenced database server). */
  fence(ctx: Context, daemon: Daemon): Promise<void>;
  /** SIGKILL, master and workers: a crash, for tests and drills. Resolves to the killed PID. */
  kill(ctx: Context, daemon: Daemon): Promise<number | undefined>;
  /** What it printed since `mark` (or lately, without one), and where that was read. */
  output(
    ctx: Context,
    daemon: Daemon,
    mark?: number,
  ): Promise<{ readonly source: string; readonly lines: readonly string[] }>;
  /** The command that shows (or follows) these daemons' logs, and where it runs. */
  logs(
    ctx: Context,
    daemons: readonly Daemon[],
    options: LogOptions,
  ): Promise<{ target: Target; command: Command } | undefined>;
}

export interface Platform {
  readonly kind: 'lab' | 'machines';
  readonly driver: Driver;
  readonly supervisor: Supervisor;
  /**
   * `up`'s first work: checks before anything is touched (the Preflight phase), then what makes
   * the hosts exist, reachable and ready for daemons (lab: namespaces, links, the clients'
   * resolver, the app's runtime; machines: packages, the user, sysctls, directories, the runtime).
   */
  provision(ctx: Context): { readonly preflight: readonly Task[]; readonly hosts: Phase };
  /** `down`'s last phase, after every daemon stopped: what `provision` built goes away. */
  teardown(ctx: Context): Phase;
  /**
   * Whether `up` has built this site (lab: its record of namespaces; machines: foobar's units on
   * any machine), so `up --plan` has something to compare with; false: `up` would build it all.
   */
  built(ctx: Context): Promise<boolean>;
  /** Which hosts are there to ask (status): a host that is not is reported down, not probed. */
  present(ctx: Context): Promise<(host: string) => boolean>;
  /**
   * How this machine's commands run SQL on a database server, when not through the mariadb
   * client on the server (the default; machines): the lab connects to each server's socket.
   */
  readonly sql?: SqlTransport;
  /** What this machine reads of the hosts without a process: the lab's own driver only. */
  readonly direct?: DirectAccess;
}
