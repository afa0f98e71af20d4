/**
 * systemd supervises every daemon on a machine: Debian's unit with foobar's drop-in, or a unit of
 * foobar's own (src/render/systemd). Enabled, so a reboot brings the site back by itself; started,
 * reloaded and stopped through systemctl; read through the journal. A fenced database server's
 * unit is masked, so no restart policy and no reboot can bring it back.
 */
import { files as fileCommands } from '../../commands/files.ts';
import type { Command, ExecResult } from '../../drivers/driver.ts';
import { journalctl, now, systemctl } from '../../commands/systemctl.ts';
import { reloadWorkers } from '../../probes/process.ts';
import { reloadSystemd } from './reload.ts';
import { DEBIAN_UNITS, renderDropIn, renderUnit, unitFile } from '../../render/systemd/index.ts';
import { MACHINE_PATHS } from '../../model/layout.ts';
import type { Context } from '../../steps/context.ts';
import type { Daemon } from '../../steps/daemon.ts';
import type { ReadFiles, Supervisor } from '../platform.ts';

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
          paths: [MACHINE_PATHS.log, MACHINE_PATHS.run, ...(daemon.writes ?? [])],
          runtimeDirs,
          ownedDirs,
        });
  return { path: unitFile(daemon, unit), content };
}

interface UnitState {
  readonly pid: number;
  readonly active: string;
  readonly sub: string;
  /** "loaded", "not-found", "masked"...; "unknown" when not asked. */
  readonly load: string;
  /** "enabled", "disabled", "masked", "static"...; "unknown" when not asked. */
  readonly unitFile: string;
}

function parseState(stdout: string): UnitState {
  const fields = new Map(
    stdout
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  return {
    pid: Number(fields.get('MainPID') ?? '0'),
    active: fields.get('ActiveState') ?? 'unknown',
    sub: fields.get('SubState') ?? 'unknown',
    load: fields.get('LoadState') ?? 'unknown',
    unitFile: fields.get('UnitFileState') ?? 'unknown',
  };
}

/** `systemctl show` of several units: their blocks, one a unit, in the order asked. */
function statesOf(host: string, count: number, stdout: string): UnitState[] {
  const blocks = stdout.split(/\n\s*\n/).filter((block) => block.includes('='));
  if (blocks.length !== count)
    throw new Error(
      `${host}: systemctl show of ${count} units gave ${blocks.length} answers: ${stdout.slice(0, 300)}`,
    );
  return blocks.map(parseState);
}

async function state(ctx: Context, daemon: Daemon): Promise<UnitState> {
  return parseState((await ctx.driver.exec(daemon.host, systemctl.show(unitOf(daemon)))).stdout);
}

function pidOf(s: UnitState): number | undefined {
  return (s.active === 'active' || s.active === 'reloading') && s.pid > 0 ? s.pid : undefined;
}

async function mainPid(ctx: Context, daemon: Daemon): Promise<number | undefined> {
  return pidOf(await state(ctx, daemon));
}

async function mainPids(
  ctx: Context,
  host: string,
  daemons: readonly Daemon[],
): Promise<(number | undefined)[]> {
  if (daemons.length === 0) return [];
  const { stdout } = await ctx.driver.exec(host, systemctl.showMany(daemons.map(unitOf)));
  return statesOf(host, daemons.length, stdout).map(pidOf);
}

/**
 * `stop` of several daemons of one host in three systemctl calls in all, not three each: their
 * state, then one stop of those that run and one disable of those enabled, side by side. A
 * machine's systemctl calls cost 0.2-1 s each under load, and `down` stopped 7-9 daemons a host
 * with 3 each (2.6-3.0 s a host, each daemon alike). Units systemd does not know (a slot never
 * installed) are left out, so that no call fails for them; a masked (fenced) unit stays masked.
 */
async function stopMany(
  ctx: Context,
  host: string,
  daemons: readonly Daemon[],
): Promise<boolean[]> {
  if (daemons.length === 0) return [];
  const units = daemons.map(unitOf);
  const { stdout } = await ctx.driver.exec(host, systemctl.showForStop(units));
  const states = statesOf(host, units.length, stdout);
  const running = units.filter(
    (_, i) => states[i]?.load !== 'not-found' && states[i]?.active !== 'inactive',
  );
  const enabled = units.filter((_, i) => states[i]?.unitFile === 'enabled');
  await Promise.all([
    running.length > 0
      ? ctx.driver.exec(host, systemctl.stop(...running), { check: false })
      : undefined,
    enabled.length > 0
      ? ctx.driver.exec(host, systemctl.disable(...enabled), { check: false })
      : undefined,
  ]);
  return states.map((s) => pidOf(s) !== undefined);
}

/** Writes the unit (or drop-in) when it differs, reloading systemd; true when it changed. */
async function writeUnit(ctx: Context, daemon: Daemon, read?: ReadFiles): Promise<boolean> {
  const file = unitFor(daemon);
  const current =
    read?.has(file.path) === true
      ? read.get(file.path)
      : await ctx.driver.readFile(daemon.host, file.path);
  if (current === file.content) return false;
  await ctx.driver.writeFile(daemon.host, file.path, file.content, 0o644);
  await reloadSystemd(ctx.driver, daemon.host);
  return true;
}

/** Enables the unit as `systemctl is-enabled` found it ("masked": unmasked first). */
async function enable(ctx: Context, daemon: Daemon, enabled: string): Promise<void> {
  const unit = unitOf(daemon);
  // foobar starting a server is the decision that it is no longer fenced.
  if (enabled === 'masked') await ctx.driver.exec(daemon.host, systemctl.unmask(unit));
  if (enabled !== 'enabled') await ctx.driver.exec(daemon.host, systemctl.enable(unit));
}

/** Writes the daemon's unit (or drop-in) when it differs and enables it; true when it changed. */
async function install(ctx: Context, daemon: Daemon, read?: ReadFiles): Promise<boolean> {
  const changed = await writeUnit(ctx, daemon, read);
  const enabled = (
    await ctx.driver.exec(daemon.host, systemctl.isEnabled(unitOf(daemon)), { check: false })
  ).stdout.trim();
  await enable(ctx, daemon, enabled);
  return changed;
}

/** What `installed` asks of systemd: the unit's enablement and state, in one command. */
function asks(daemon: Daemon): Command {
  return systemctl.enabledAndShow(unitOf(daemon));
}

/**
 * install, then mainPid, with one round trip for both questions (a no-op `up` asks them of every
 * daemon): enabling or unmasking starts nothing, so the state read before it is still true after.
 */
async function installed(
  ctx: Context,
  daemon: Daemon,
  read?: ReadFiles,
  answer?: ExecResult,
): Promise<{ changed: boolean; pid: number | undefined }> {
  const changed = await writeUnit(ctx, daemon, read);
  // Asked before a new unit file was written, when ensureDaemon asked it: a changed unit is
  // restarted whatever it says, and a unit that did not exist yet says nothing, as after.
  const asked = answer ?? (await ctx.driver.exec(daemon.host, asks(daemon)));
  // is-enabled says nothing on stdout of a unit it does not know; show's lines all have a `=`.
  const enabled = asked.stdout.split('\n').find((line) => !line.includes('=')) ?? '';
  await enable(ctx, daemon, enabled.trim());
  return { changed, pid: pidOf(parseState(asked.stdout)) };
}

export const systemdSupervisor: Supervisor = {
  install,
  installs: (daemon) => [unitFor(daemon).path],
  installed,
  asks,
  mainPid,
  mainPids,
  stopMany,
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
    const units = daemons.map((d) => unitOf(d));
    // Their output is in the journal; the files they write themselves (Nginx's access log, the
    // app's) beside it, with logrotate's generations.
    const files = daemons.flatMap((d) => d.logs);
    return Promise.resolve({
      target: host,
      command:
        files.length === 0
          ? journalctl.read(units, options)
          : fileCommands.logs(files, {
              ...options,
              journal: {
                name: `journalctl -u ${units.join(' -u ')}`,
                argv: journalctl.read(units, {}).argv,
              },
            }),
    });
  },
};
