/**
 * systemd supervises every daemon on a machine: Debian's unit with foobar's drop-in, or a unit of
 * foobar's own (src/render/systemd). Enabled, so a reboot brings the site back by itself; started,
 * reloaded and stopped through systemctl; read through the journal. A fenced database server's
 * unit is masked, so no restart policy and no reboot can bring it back.
 */
import { journalctl, now, systemctl } from '../../commands/systemctl.ts';
import { reloadWorkers } from '../../probes/process.ts';
import { DEBIAN_UNITS, renderDropIn, renderUnit, unitFile } from '../../render/systemd/index.ts';
import { MACHINE_PATHS } from '../../model/layout.ts';
import type { Context } from '../../steps/context.ts';
import type { Daemon } from '../../steps/daemon.ts';
import type { Supervisor } from '../platform.ts';

export function unitOf(daemon: Daemon): string {
  return daemon.unit ?? DEBIAN_UNITS[daemon.service] ?? `foobar-${daemon.service}.service`;
}

/** The unit (or drop-in) file foobar writes for the daemon, and its text. */
export function unitFor(daemon: Daemon): { path: string; content: string } {
  const unit = unitOf(daemon);
  const runtimeDirs = daemon.dirs.filter((dir) => dir.startsWith(`${MACHINE_PATHS.run}/`));
  const ownedDirs = daemon.ownedRunDirs ?? [];
  const content =
    DEBIAN_UNITS[daemon.service] === unit
      ? renderDropIn(daemon, unit, {
          paths: [MACHINE_PATHS.etc, MACHINE_PATHS.log, MACHINE_PATHS.run, MACHINE_PATHS.data],
          runtimeDirs,
          ownedDirs,
        })
      : renderUnit(daemon, unit, {
          paths: [MACHINE_PATHS.log, MACHINE_PATHS.run],
          runtimeDirs,
          ownedDirs,
        });
  return { path: unitFile(daemon, unit), content };
}

interface UnitState {
  readonly pid: number;
  readonly active: string;
  readonly sub: string;
}

async function state(ctx: Context, daemon: Daemon): Promise<UnitState> {
  const shown = await ctx.driver.exec(daemon.host, systemctl.show(unitOf(daemon)));
  const fields = new Map(
    shown.stdout
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  return {
    pid: Number(fields.get('MainPID') ?? '0'),
    active: fields.get('ActiveState') ?? 'unknown',
    sub: fields.get('SubState') ?? 'unknown',
  };
}

async function mainPid(ctx: Context, daemon: Daemon): Promise<number | undefined> {
  const s = await state(ctx, daemon);
  return (s.active === 'active' || s.active === 'reloading') && s.pid > 0 ? s.pid : undefined;
}

/** Writes the daemon's unit (or drop-in) when it differs and enables it; true when it changed. */
async function install(ctx: Context, daemon: Daemon): Promise<boolean> {
  const unit = unitOf(daemon);
  const file = unitFor(daemon);
  const changed = (await ctx.driver.readFile(daemon.host, file.path)) !== file.content;
  if (changed) {
    await ctx.driver.writeFile(daemon.host, file.path, file.content, 0o644);
    await ctx.driver.exec(daemon.host, systemctl.daemonReload());
  }
  const enabled = (
    await ctx.driver.exec(daemon.host, systemctl.isEnabled(unit), { check: false })
  ).stdout.trim();
  // foobar starting a server is the decision that it is no longer fenced.
  if (enabled === 'masked') await ctx.driver.exec(daemon.host, systemctl.unmask(unit));
  if (enabled !== 'enabled') await ctx.driver.exec(daemon.host, systemctl.enable(unit));
  return changed;
}

export const systemdSupervisor: Supervisor = {
  install,
  mainPid,
  async launch(ctx, daemon) {
    // The unit names what this start runs: a deploy starts the standby slot with the new
    // release, whose unit still names the one that slot ran before.
    await install(ctx, daemon);
    const mark = Number((await ctx.driver.exec(daemon.host, now)).stdout.trim());
    await ctx.driver.exec(daemon.host, systemctl.resetFailed(unitOf(daemon)), { check: false });
    // A start that fails is reported by waiting for it, with the journal's lines.
    await ctx.driver.exec(daemon.host, systemctl.start(unitOf(daemon)), { check: false });
    return mark;
  },
  async starting(ctx, daemon) {
    const s = await state(ctx, daemon);
    // Waiting to be restarted after it exited is not starting: the first exit is the answer.
    if (s.sub === 'auto-restart') return false;
    return s.active === 'activating' || s.active === 'active' || s.active === 'reloading';
  },
  async reload(ctx, daemon, pid) {
    await reloadWorkers(ctx.driver, daemon, pid, async () => {
      await ctx.driver.exec(daemon.host, systemctl.reload(unitOf(daemon)));
    });
  },
  async stop(ctx, daemon) {
    const pid = await mainPid(ctx, daemon);
    await ctx.driver.exec(daemon.host, systemctl.stop(unitOf(daemon)), { check: false });
    // Enabled means foobar runs it: a reboot brings back what ran, not a slot a deploy left
    // (a start enables it again). A masked (fenced) unit stays masked.
    await ctx.driver.exec(daemon.host, systemctl.disable(unitOf(daemon)), { check: false });
    return pid !== undefined;
  },
  async fence(ctx, daemon) {
    await ctx.driver.exec(daemon.host, systemctl.mask(unitOf(daemon)));
  },
  async kill(ctx, daemon) {
    const pid = await mainPid(ctx, daemon);
    if (pid === undefined) return undefined;
    await ctx.driver.exec(daemon.host, systemctl.kill(unitOf(daemon)));
    return pid;
  },
  async output(ctx, daemon, mark) {
    const unit = unitOf(daemon);
    const read = await ctx.driver.exec(
      daemon.host,
      journalctl.read([unit], mark === undefined ? { lines: 8 } : { since: mark }),
      { check: false },
    );
    return { source: `journalctl -u ${unit}`, lines: read.stdout.split('\n') };
  },
  logs(_ctx, daemons, options) {
    const host = daemons[0]?.host;
    if (host === undefined) return Promise.resolve(undefined);
    return Promise.resolve({
      target: host,
      command: journalctl.read(
        daemons.map((d) => unitOf(d)),
        { lines: options.lines, follow: options.follow },
      ),
    });
  },
};
