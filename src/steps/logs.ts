/**
 * Logs that never fill a disk. In the lab, a log rotator of foobar's own runs on the monitor host
 * (src/platform/lab/rotator.ts): no logrotate or journald runs per namespace. On machines the
 * daemons log to the journal, whose limits come from the same `logs` settings (render/systemd).
 */
import path from 'node:path';
import { hostPaths } from '../model/layout.ts';
import type { Host } from '../model/model.ts';
import { DAEMON_ENV, daemonCommand, daemonsKey } from '../release/daemons.ts';
import type { RotatorConfig } from '../platform/lab/logs.ts';
import type { Context } from './context.ts';
import { once, type Daemon } from './daemon.ts';
import { installDaemons } from './release.ts';
import { serviceDaemons } from './services.ts';

/**
 * How often the lab's rotator looks: every second, twice as often as logrotate on machines
 * (render/logging LOG_CHECK_SECONDS, a process each time), since a pass only stats files. At full speed HAProxy
 * writes 2 MB/s or more here, and the room the rotator keeps for the next pass's writes is at
 * least a fifth of the cap (logs.ts): with 2 s passes the lab test's 20 MB cap (4 MB of room) was
 * passed by 0.2 MB when load began after a quiet spell on a quiet machine (CI).
 */
export const ROTATION_INTERVAL_MS = 1000;

export function rotatorFiles(
  ctx: Context,
  host: Host,
): { config: string; heartbeat: string; pid: string; log: string } {
  const paths = hostPaths(ctx.model, host.name);
  return {
    config: path.join(paths.etc, 'log-rotator.json'),
    heartbeat: path.join(paths.run, 'log-rotator.json'),
    pid: path.join(paths.run, 'log-rotator.pid'),
    log: path.join(paths.log, 'log-rotator.log'),
  };
}

/** Every host's live logs, from its daemons (both app slots: a deploy switches them). */
export async function rotatorConfig(ctx: Context, rotator: Host): Promise<RotatorConfig> {
  const files = rotatorFiles(ctx, rotator);
  return {
    intervalMs: ROTATION_INTERVAL_MS,
    heartbeat: files.heartbeat,
    settings: ctx.model.logs,
    hosts: await Promise.all(
      ctx.model.hosts.map(async (host) => {
        const daemons = await serviceDaemons(ctx, host, true);
        const live = daemons.flatMap((d) => [d.outputLog, ...d.logs]);
        if (host.name === rotator.name) live.push(files.log);
        return {
          host: host.name,
          live: [...new Set(live)].sort(),
          reopen: daemons.flatMap((d) =>
            d.reopenLogsSignal === undefined || d.logs.length === 0
              ? []
              : [
                  {
                    files: d.logs,
                    pidFile: d.pidFile,
                    marker: d.marker,
                    signal: d.reopenLogsSignal,
                  },
                ],
          ),
        };
      }),
    ),
  };
}

/** The lab's log rotator: its bundle (src/release/daemons.ts) on the lab's Node.js, as root, on the monitor. */
export async function logRotatorDaemon(ctx: Context, host: Host): Promise<Daemon> {
  const paths = hostPaths(ctx.model, host.name);
  const files = rotatorFiles(ctx, host);
  const config = await rotatorConfig(ctx, host);
  const rendered = once(() => [
    { path: files.config, content: `${JSON.stringify(config, null, 2)}\n` },
    // It runs this checkout's code: a changed checkout restarts it.
    { path: `${files.config}.code`, content: `${daemonsKey()}\n` },
  ]);
  const start = once(() => daemonCommand(ctx.model, 'log-rotator', [files.config]));
  return {
    service: 'log-rotator',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    get files() {
      return rendered();
    },
    dirs: [paths.etc, paths.run, paths.log],
    get start() {
      return start();
    },
    env: DAEMON_ENV,
    prepare: async (c) => {
      await installDaemons(c, host.name);
      // Its heartbeat starts at its start: a rotator that never finishes a pass goes stale.
      await c.driver.writeFile(
        host.name,
        files.heartbeat,
        `${JSON.stringify({ at: new Date().toISOString() })}\n`,
      );
    },
    outputLog: files.log,
    stopSignal: 'TERM',
    // Alive and looking: its heartbeat is at most a few passes old.
    probe: async (c) => {
      const text = await c.driver.readFile(host.name, files.heartbeat);
      if (text === undefined) return 'no pass yet';
      const at = Date.parse(/"at":\s*"([^"]+)"/.exec(text)?.[1] ?? '');
      if (Number.isNaN(at))
        return `its heartbeat is unreadable: ${JSON.stringify(text.slice(0, 80))}`;
      const age = Date.now() - at;
      return age <= 5 * ROTATION_INTERVAL_MS
        ? undefined
        : `last pass ${Math.round(age / 1000)} s ago`;
    },
    logs: [],
  };
}

/** The log rotator, on the lab's monitor host (machines have the journal and logrotate). */
export async function logDaemons(ctx: Context, host: Host): Promise<Daemon[]> {
  return ctx.platform.kind === 'lab' && host.roles.includes('mon')
    ? [await logRotatorDaemon(ctx, host)]
    : [];
}
