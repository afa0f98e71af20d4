/** systemd's tools on a machine: units, their state and their journal. */
import type { Command } from '../drivers/driver.ts';

/** The state `show` reads of each unit: a block each, in the order given, blank lines between. */
function showMany(units: readonly string[]): Command {
  return {
    argv: ['systemctl', 'show', '--property=MainPID,ActiveState,SubState', ...units],
    readOnly: true,
  };
}

/**
 * `systemctl` that enables or disables the systemd unit only. For a unit whose package also ships
 * a SysV script (haproxy, keepalived, nginx, nsd, mariadb, etcd, Prometheus and its exporters),
 * systemctl otherwise runs `systemd-sysv-install`, that is `update-rc.d`, a Perl program, for
 * /etc/rc?.d links that systemd never reads when a unit of the same name exists: 0.8 s a unit
 * on an idle test machine, 4–30 s on a loaded one, against 0.02 s without it.
 */
const unitFiles = (...args: readonly string[]): string[] => [
  'env',
  'SYSTEMCTL_SKIP_SYSV=1',
  'systemctl',
  ...args,
];

export const systemctl = {
  daemonReload: (): Command => ({ argv: ['systemctl', 'daemon-reload'] }),
  // Enabling is for the next boot: without a reload of systemd's manager each time (foobar
  // reloads it when it writes a unit), which a start and a stop of every daemon would cost.
  enable: (unit: string): Command => ({
    argv: unitFiles('enable', '--quiet', '--no-reload', unit),
  }),
  /** Several at once: one systemctl. */
  disable: (...units: readonly string[]): Command => ({
    argv: unitFiles('disable', '--quiet', '--no-reload', ...units),
  }),
  enableNow: (unit: string): Command => ({
    argv: unitFiles('enable', '--now', '--quiet', unit),
    timeoutMs: 120_000,
  }),
  restart: (unit: string): Command => ({
    argv: ['systemctl', 'restart', unit],
    timeoutMs: 120_000,
  }),
  disableNow: (unit: string): Command => ({
    argv: unitFiles('disable', '--now', '--quiet', unit),
    timeoutMs: 120_000,
  }),
  /** Exit code 0 when the unit is active. */
  isActive: (unit: string): Command => ({
    argv: ['systemctl', 'is-active', '--quiet', unit],
    readOnly: true,
  }),
  /**
   * `is-enabled`'s lines ("enabled", "disabled", "masked"...), a line `--`, then `is-active`'s
   * ("active", "inactive", "failed"...), one per unit in order: one round trip (exit code ignored). The
   * separator keeps each part's lines in their units' order even when one part has fewer.
   */
  areEnabledAndActive: (units: readonly string[]): Command => ({
    argv: [
      'sh',
      '-c',
      'systemctl is-enabled "$@"; echo --; systemctl is-active "$@"; exit 0',
      'sh',
      ...units,
    ],
    readOnly: true,
  }),
  /** "enabled", "disabled", "masked", ... (exit code non-zero for all but enabled). */
  isEnabled: (unit: string): Command => ({
    argv: ['systemctl', 'is-enabled', unit],
    readOnly: true,
  }),
  /** Its main PID and state as `KEY=value` lines. */
  show: (unit: string): Command => showMany([unit]),
  /** `show` of several units at once: a block each, in the order given, blank lines between. */
  showMany,
  /**
   * `is-enabled` (first line: "enabled", "disabled", "masked"...), then `show` as above: one round
   * trip. Its exit code is show's.
   */
  enabledAndShow: (unit: string): Command => ({
    argv: [
      'sh',
      '-c',
      'systemctl is-enabled "$1"; systemctl show --property=MainPID,ActiveState,SubState "$1"',
      'sh',
      unit,
    ],
    readOnly: true,
  }),
  start: (unit: string): Command => ({ argv: ['systemctl', 'start', unit], timeoutMs: 180_000 }),
  /** Several at once: systemd queues a stop job for each and waits for them all together. */
  stop: (...units: readonly string[]): Command => ({
    argv: ['systemctl', 'stop', ...units],
    timeoutMs: 120_000,
  }),
  /**
   * What a batch stop asks first, for each unit as `show` does: its main PID and state, whether
   * it is known at all (LoadState: "not-found" for a slot never installed) and enabled for boot
   * (UnitFileState).
   */
  showForStop: (units: readonly string[]): Command => ({
    argv: [
      'systemctl',
      'show',
      '--property=MainPID,ActiveState,SubState,LoadState,UnitFileState',
      ...units,
    ],
    readOnly: true,
  }),
  reload: (unit: string): Command => ({ argv: ['systemctl', 'reload', unit] }),
  /** SIGKILL to every process of the unit (master and workers): a crash. */
  kill: (unit: string): Command => ({
    argv: ['systemctl', 'kill', '--signal=KILL', unit],
  }),
  mask: (unit: string): Command => ({ argv: ['systemctl', 'mask', '--quiet', unit] }),
  unmask: (unit: string): Command => ({ argv: ['systemctl', 'unmask', '--quiet', unit] }),
  resetFailed: (unit: string): Command => ({
    argv: ['systemctl', 'reset-failed', unit],
  }),
};

export const journalctl = {
  /** The unit's messages since a time (seconds since the epoch), or its last `lines`. */
  read: (
    units: readonly string[],
    options: { since?: number; lines?: number; follow?: boolean },
  ): Command => ({
    argv: [
      'journalctl',
      '--no-pager',
      '--output=cat',
      ...units.flatMap((unit) => ['--unit', unit]),
      ...(options.since === undefined ? [] : [`--since=@${options.since.toFixed(6)}`]),
      ...(options.lines === undefined ? [] : [`--lines=${options.lines}`]),
      ...(options.follow === true ? ['--follow'] : []),
    ],
    readOnly: true,
  }),
};

/** Seconds since the epoch on the host, to the microsecond: a mark to read the journal from. */
export const now: Command = { argv: ['date', '+%s.%N'], readOnly: true };
