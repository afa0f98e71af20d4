/**
 * The life of one daemon on one host: write its files, check its config, start it, reload it,
 * stop it. Every service (HAProxy, Nginx, the app, MariaDB, ...) is described as a Daemon and
 * driven by these functions, so up, down, status and logs treat them all alike.
 */
import path from 'node:path';
import type { Command, Target } from '../drivers/driver.ts';
import { proc, type Signal } from '../commands/proc.ts';
import { files as fileCommands } from '../commands/files.ts';
import { parseListeners, ss } from '../commands/ss.ts';
import { childPids, isOurProcess, processState, readPid } from '../probes/process.ts';
import { sleep, waitFor } from '../lib/wait.ts';
import type { Context } from './context.ts';

export interface RenderedFile {
  readonly path: string;
  readonly content: string;
  readonly mode?: number;
}

export interface Daemon {
  /** "haproxy", "nginx", "app", ... */
  readonly service: string;
  readonly host: string;
  readonly pidFile: string;
  /** A string on the process's command line that only our instance has (its config path). */
  readonly marker: string;
  /** Written before a start or reload; a change in them triggers a reload. */
  readonly files: readonly RenderedFile[];
  /** Created before a start. */
  readonly dirs: readonly string[];
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
  readonly outputLog: string;
  readonly env?: Readonly<Record<string, string>>;
  /** The signal that makes it re-read its config without dropping connections; none: restart. */
  readonly reloadSignal?: Signal;
  /** A reload is only over once the old workers have exited (they may hold the old config's upstreams). */
  readonly reloadDrains?: boolean;
  readonly stopSignal: Signal;
  /** Undefined when the daemon answers as it should; otherwise what is wrong. */
  readonly probe: (ctx: Context) => Promise<string | undefined>;
  /** TCP ports it listens on: checked free before a start, so a stray process is named. */
  readonly ports?: readonly number[];
  /** Log files, for `foobar logs`. */
  readonly logs: readonly string[];
  readonly startTimeoutMs?: number;
}

export type DaemonOutcome = 'running' | 'started' | 'reloaded' | 'restarted';

/** "nginx reloaded, app started", or "up to date" when everything was already running. */
export function describeOutcomes(outcomes: Readonly<Record<string, string>>): string {
  const changed = Object.entries(outcomes).filter(([, outcome]) => outcome !== 'running');
  if (changed.length === 0) return 'up to date';
  return changed.map(([name, outcome]) => `${name} ${outcome}`).join(', ');
}

export async function runningPid(ctx: Context, daemon: Daemon): Promise<number | undefined> {
  const pid = await readPid(ctx.driver, daemon.host, daemon.pidFile);
  if (pid === undefined) return undefined;
  return (await isOurProcess(ctx.driver, daemon.host, pid, daemon.marker)) ? pid : undefined;
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

/** Writes the files that differ from what is there; true when any did. */
export async function writeFiles(
  ctx: Context,
  host: Target,
  files: readonly RenderedFile[],
): Promise<boolean> {
  let changed = false;
  for (const file of files) {
    if ((await ctx.driver.readFile(host, file.path)) === file.content) continue;
    await ctx.driver.writeFile(host, file.path, file.content, file.mode);
    changed = true;
  }
  return changed;
}

/** Brings the daemon to "running with its current config", doing as little as possible. */
export async function ensureDaemon(ctx: Context, daemon: Daemon): Promise<DaemonOutcome> {
  for (const dir of daemon.dirs) await ctx.driver.mkdir(daemon.host, dir);
  const changed = await writeFiles(ctx, daemon.host, daemon.files);
  const pid = await runningPid(ctx, daemon);
  if (pid !== undefined && !changed) return 'running';
  if (ctx.planning !== undefined) {
    const action =
      pid === undefined ? 'start' : daemon.reloadSignal === undefined ? 'restart' : 'reload';
    ctx.planning.action(daemon.host, `${daemon.service}: ${action}`);
    return action === 'start' ? 'started' : action === 'reload' ? 'reloaded' : 'restarted';
  }
  for (const check of daemon.checks ?? []) await ctx.driver.exec(daemon.host, check);
  if (pid !== undefined) {
    if (daemon.reloadSignal !== undefined) {
      await reload(ctx, daemon, pid, daemon.reloadSignal);
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
  await ctx.driver.remove(daemon.host, daemon.pidFile);
  for (const port of daemon.ports ?? []) await ensurePortFree(ctx, daemon, port);
  await daemon.prepare?.(ctx);
  const offset = await logSize(ctx, daemon);
  const pid = await ctx.driver.spawn(daemon.host, daemon.start, {
    logFile: daemon.outputLog,
    ...(daemon.env === undefined ? {} : { env: daemon.env }),
  });
  await ctx.driver.writeFile(daemon.host, daemon.pidFile, `${pid}\n`);
  await waitReady(ctx, daemon, offset);
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

async function waitReady(ctx: Context, daemon: Daemon, logOffset?: number): Promise<void> {
  const what = `${daemon.host}: ${daemon.service}`;
  try {
    await waitFor(
      what,
      async () => {
        if ((await runningPid(ctx, daemon)) === undefined) {
          // Right after the spawn, /proc/PID/cmdline reads empty until the exec is done:
          // only a process that is gone (or a zombie) has exited.
          const pid = await readPid(ctx.driver, daemon.host, daemon.pidFile);
          const state =
            pid === undefined ? undefined : await processState(ctx.driver, daemon.host, pid);
          if (state === undefined || state === 'Z' || state === 'X') {
            throw new Error(
              `${what} exited while starting${await startupOutput(ctx, daemon, logOffset)}`,
            );
          }
          return 'starting';
        }
        return daemon.probe(ctx);
      },
      { timeoutMs: daemon.startTimeoutMs ?? 15_000 },
    );
  } catch (error) {
    const message = (error as Error).message;
    if (message.includes('exited while starting')) throw error;
    throw new Error(`${message}${await startupOutput(ctx, daemon, logOffset)}`, { cause: error });
  }
}

async function logSize(ctx: Context, daemon: Daemon): Promise<number> {
  const result = await ctx.driver.exec(daemon.host, fileCommands.size(daemon.outputLog), {
    check: false,
  });
  return result.exitCode === 0 ? Number(result.stdout.trim()) : 0;
}

/**
 * What the daemon printed since `offset` (its start): the first lines carry the error, the last
 * ones where it ended. Without an offset, the end of its log.
 */
async function startupOutput(
  ctx: Context,
  daemon: Daemon,
  offset: number | undefined,
): Promise<string> {
  const command =
    offset === undefined
      ? fileCommands.tail(daemon.outputLog, 8)
      : fileCommands.from(daemon.outputLog, offset);
  const result = await ctx.driver.exec(daemon.host, command, { check: false });
  const lines = result.stdout.split('\n').filter((line) => line.trim() !== '');
  if (lines.length === 0) return '';
  const shown = lines.length > 12 ? [...lines.slice(0, 8), '...', ...lines.slice(-3)] : lines;
  return `\n${path.basename(daemon.outputLog)}:\n  ${shown.join('\n  ')}`;
}

/** Signals a reload and waits for new workers, then for the daemon to answer again. */
async function reload(ctx: Context, daemon: Daemon, pid: number, signal: Signal): Promise<void> {
  const before = new Set(await childPids(ctx.driver, daemon.host, pid));
  await ctx.driver.exec(daemon.host, proc.kill(signal, pid));
  await waitFor(
    `${daemon.host}: ${daemon.service} reload`,
    async () => {
      const now = await childPids(ctx.driver, daemon.host, pid);
      return now.some((child) => !before.has(child)) ? undefined : 'no new workers yet';
    },
    { timeoutMs: 10_000 },
  );
  if (daemon.reloadDrains === true) {
    await waitFor(
      `${daemon.host}: ${daemon.service}'s old workers to finish`,
      async () => {
        const now = await childPids(ctx.driver, daemon.host, pid);
        const left = now.filter((child) => before.has(child));
        return left.length === 0 ? undefined : `${left.length} still running`;
      },
      { timeoutMs: 20_000 },
    );
  }
  await waitReady(ctx, daemon);
}

/** Stops the daemon if it runs: its stop signal, then SIGKILL after the grace period. */
export async function stopDaemon(ctx: Context, daemon: Daemon, graceMs = 10_000): Promise<boolean> {
  const pid = await runningPid(ctx, daemon);
  if (pid !== undefined) await signalAndWait(ctx, daemon, pid, daemon.stopSignal, graceMs);
  await ctx.driver.remove(daemon.host, daemon.pidFile);
  await daemon.afterStop?.(ctx);
  return pid !== undefined;
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

/**
 * Kills the daemon outright with SIGKILL, master first so it cannot replace its workers, then the
 * workers: a crash, for tests and drills.
 */
export async function killDaemon(ctx: Context, daemon: Daemon): Promise<number | undefined> {
  const pid = await runningPid(ctx, daemon);
  if (pid === undefined) return undefined;
  const workers = await childPids(ctx.driver, daemon.host, pid);
  await ctx.driver.exec(daemon.host, proc.kill('KILL', pid));
  for (const worker of workers)
    await ctx.driver.exec(daemon.host, proc.kill('KILL', worker), { check: false });
  return pid;
}
