/**
 * The lab's supervisor: foobar itself. It detaches each daemon (in the foreground, its output to
 * its output log), writes its pid file, and later trusts a PID only if /proc shows our process
 * (see process.ts): namespaces share the PID space, and PIDs get reused. Beside the pid file it
 * records what the daemon was started with (see startRecord), so `up` restarts a daemon whose
 * command line, environment or user changed, as a changed unit restarts it on machines.
 */
import path from 'node:path';
import { asUser, proc, type Signal } from '../../commands/proc.ts';
import { files as fileCommands } from '../../commands/files.ts';
import { sleep, waitFor } from '../../lib/wait.ts';
import type { Context } from '../../steps/context.ts';
import type { Daemon } from '../../steps/daemon.ts';
import type { ReadFiles, Supervisor } from '../platform.ts';
import { childPids, reloadWorkers } from '../../probes/process.ts';
import { isOurProcess, processState, readPid } from './process.ts';
import { appenderCommand } from './appender.ts';

async function mainPid(ctx: Context, daemon: Daemon): Promise<number | undefined> {
  const pid = await readPid(ctx.driver, daemon.host, daemon.pidFile);
  if (pid === undefined) return undefined;
  return (await isOurProcess(ctx.driver, daemon.host, pid, daemon.marker)) ? pid : undefined;
}

async function logSize(ctx: Context, daemon: Daemon): Promise<number> {
  const result = await ctx.driver.exec(daemon.host, fileCommands.size(daemon.outputLog), {
    check: false,
  });
  return result.exitCode === 0 ? Number(result.stdout.trim()) : 0;
}

async function signalAndWait(
  ctx: Context,
  daemon: Daemon,
  pid: number,
  signal: Signal,
  graceMs: number,
): Promise<void> {
  const gone = async (): Promise<boolean> =>
    !(await isOurProcess(ctx.driver, daemon.host, pid, daemon.marker));
  await ctx.driver.exec(daemon.host, proc.kill(signal, pid), { check: false });
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (await gone()) return;
    await sleep(50);
  }
  await ctx.driver.exec(daemon.host, proc.kill('KILL', pid), { check: false });
  await waitFor(
    `${daemon.host}: ${daemon.service} (pid ${pid}) to exit`,
    async () => ((await gone()) ? undefined : 'still running'),
    {
      timeoutMs: 5000,
    },
  );
}

/** The record of the daemon's start, beside its pid file (`nginx.pid` → `nginx.start`). */
export function startRecordFile(daemon: Daemon): string {
  return `${daemon.pidFile.replace(/\.pid$/, '')}.start`;
}

/**
 * What the daemon is started with, as its record holds it: the command line, the environment
 * (sorted: its order means nothing) and the user. One item a line, so `up --plan`'s diff of the
 * record says what changed. Mode 0644, as the app's env file holding the same values: no
 * daemon's environment holds a secret (the app is given its password's file, not the password).
 */
export function startRecord(daemon: Daemon): string {
  const env = Object.fromEntries(
    Object.entries(daemon.env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return `${JSON.stringify({ argv: daemon.start.argv, env, user: daemon.user ?? null }, null, 2)}\n`;
}

/**
 * Makes the daemon's record name its start as `daemon` describes it; true when it named another,
 * so a running daemon must restart to take the new one. The record is not the process's command
 * line: a MariaDB replica promoted at run time keeps `--init-rpl-role=SLAVE` on it, and a change
 * of primary rewrites the record without a restart (unitsFollowRoles), so the next `up` leaves
 * the new primary running. No record (a daemon started before foobar kept them): it is taken as
 * started the way it is described, and recorded so, rather than restarted: upgrading foobar
 * restarts no healthy daemon (the primary database server among them), and it runs the new
 * command line from its next start. A plan writes nothing for it.
 */
async function install(ctx: Context, daemon: Daemon, read?: ReadFiles): Promise<boolean> {
  const file = startRecordFile(daemon);
  const current =
    read?.has(file) === true ? read.get(file) : await ctx.driver.readFile(daemon.host, file);
  const wanted = startRecord(daemon);
  if (current === wanted) return false;
  if (current === undefined && ctx.planning !== undefined) return false;
  await ctx.driver.writeFile(daemon.host, file, wanted);
  return current !== undefined;
}

/**
 * For a daemon whose output is non-blocking (see Daemon.outputNonBlocking): the pipe it writes
 * to, and its appender's pid file, beside its own pid file (`haproxy.pid` → `haproxy.out`,
 * `haproxy.appender.pid`). The appender's command line names the pipe: its marker.
 */
export function appenderFiles(daemon: Daemon): { pipe: string; pidFile: string } {
  const base = daemon.pidFile.replace(/\.pid$/, '');
  return { pipe: `${base}.out`, pidFile: `${base}.appender.pid` };
}

/**
 * Starts the appender of a non-blocking daemon's output (appender.ts): from its pipe to its output
 * log, which the driver opens with O_APPEND for it (and it leaves so), so a copy and truncate by
 * the log rotator is safe. It ends when the daemon and its workers have all closed the pipe.
 * Returns the file the daemon's output goes to.
 */
async function startAppender(ctx: Context, daemon: Daemon): Promise<string> {
  if (daemon.outputNonBlocking !== true) return daemon.outputLog;
  const { pipe, pidFile } = appenderFiles(daemon);
  await stopAppender(ctx, daemon);
  await ctx.driver.exec(daemon.host, {
    argv: ['sh', '-c', '[ -p "$1" ] || { rm -f "$1" && mkfifo -m 600 "$1"; }', 'sh', pipe],
  });
  const pid = await ctx.driver.spawn(daemon.host, appenderCommand(pipe), {
    logFile: daemon.outputLog,
  });
  await ctx.driver.writeFile(daemon.host, pidFile, `${pid}\n`);
  return pipe;
}

/** Stops an appender still running (its daemon gone, it ends by itself; this makes sure). */
async function stopAppender(ctx: Context, daemon: Daemon): Promise<void> {
  if (daemon.outputNonBlocking !== true) return;
  const { pipe, pidFile } = appenderFiles(daemon);
  const pid = await readPid(ctx.driver, daemon.host, pidFile);
  if (pid !== undefined && (await isOurProcess(ctx.driver, daemon.host, pid, pipe)))
    await ctx.driver.exec(daemon.host, proc.kill('TERM', pid), { check: false });
  await ctx.driver.remove(daemon.host, pidFile);
}

export const pidFileSupervisor: Supervisor = {
  install,
  installs: (daemon) => [startRecordFile(daemon)],
  mainPid,
  async launch(ctx, daemon) {
    await ctx.driver.remove(daemon.host, daemon.pidFile);
    const offset = await logSize(ctx, daemon);
    const argv =
      daemon.user === undefined ? daemon.start.argv : asUser(daemon.user, daemon.start.argv);
    const output = await startAppender(ctx, daemon);
    const pid = await ctx.driver.spawn(
      daemon.host,
      { ...daemon.start, argv },
      {
        logFile: output,
        ...(daemon.env === undefined ? {} : { env: daemon.env }),
      },
    );
    // The record names what this start runs, whoever started it (a deploy's new slot, a restart
    // after a secret's rotation, a rejoin) and whatever the record said before.
    await Promise.all([
      ctx.driver.writeFile(daemon.host, daemon.pidFile, `${pid}\n`),
      ctx.driver.writeFile(daemon.host, startRecordFile(daemon), startRecord(daemon)),
    ]);
    return offset;
  },
  async starting(ctx, daemon) {
    // Right after the spawn, /proc/PID/cmdline reads empty until the exec is done: only a
    // process that is gone (or a zombie) has exited.
    const pid = await readPid(ctx.driver, daemon.host, daemon.pidFile);
    const state = pid === undefined ? undefined : await processState(ctx.driver, daemon.host, pid);
    return state !== undefined && state !== 'Z' && state !== 'X';
  },
  async reload(ctx, daemon, pid) {
    await reloadWorkers(ctx.driver, daemon, pid, async () => {
      await ctx.driver.exec(daemon.host, proc.kill(daemon.reloadSignal ?? 'HUP', pid));
    });
  },
  fence: () => Promise.resolve(),
  async stop(ctx, daemon, graceMs) {
    const pid = await mainPid(ctx, daemon);
    if (pid !== undefined) await signalAndWait(ctx, daemon, pid, daemon.stopSignal, graceMs);
    await ctx.driver.remove(daemon.host, daemon.pidFile);
    await stopAppender(ctx, daemon);
    return pid !== undefined;
  },
  async kill(ctx, daemon) {
    const pid = await mainPid(ctx, daemon);
    if (pid === undefined) return undefined;
    const workers = await childPids(ctx.driver, daemon.host, pid);
    await ctx.driver.exec(daemon.host, proc.kill('KILL', pid));
    for (const worker of workers)
      await ctx.driver.exec(daemon.host, proc.kill('KILL', worker), { check: false });
    return pid;
  },
  async output(ctx, daemon, mark) {
    const command =
      mark === undefined
        ? fileCommands.tail(daemon.outputLog, 8)
        : fileCommands.from(daemon.outputLog, mark);
    const result = await ctx.driver.exec(daemon.host, command, { check: false });
    return { source: path.basename(daemon.outputLog), lines: result.stdout.split('\n') };
  },
  async logs(ctx, daemons, options) {
    // Every host's files are under the lab's state directory on this machine.
    const files = daemons.flatMap((d) => [d.outputLog, ...d.logs]);
    const existing = (
      await Promise.all(
        files.map(async (f) => ((await ctx.driver.readFile(null, f)) === undefined ? [] : [f])),
      )
    ).flat();
    if (existing.length === 0) return undefined;
    return { target: null, command: fileCommands.logs(existing, options) };
  },
};
