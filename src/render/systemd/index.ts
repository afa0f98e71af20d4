/**
 * systemd units for daemons on machines. A daemon whose Debian package ships a unit keeps it
 * (its name, enablement, ordering, restart policy, limits and hardening) and gets a drop-in that
 * runs foobar's command line with foobar's config, as the lab runs it; the daemons of foobar's
 * own (the app's slots, the dashboard, the failover manager) get a unit of their own, hardened.
 */
import path from 'node:path';
import { renderedHeader } from '../header.ts';

/** What a unit needs to know of a daemon (a subset of steps/daemon.ts's Daemon). */
export interface UnitDaemon {
  readonly service: string;
  readonly host: string;
  readonly start: { readonly argv: readonly string[] };
  readonly user?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly reloadSignal?: string;
  readonly stopSignal: string;
  /** False: `Restart=no` (see the Daemon's). */
  readonly restartsOnCrash?: false;
  /** True: no journal rate limit (see the Daemon's). */
  readonly logsEachRequest?: true;
}

/**
 * The journal's rate limit for a daemon that logs each request: a million lines a second, more
 * than any of ours writes. Not `LogRateLimitIntervalSec=0`: per unit, 0 means "journald's
 * default" (10,000 lines in 30 s), not "off" as it does in journald.conf (systemd#22034); with it
 * a machines test at full speed kept 17,481 of 131,025 requests' lines, "Suppressed 66165
 * messages from haproxy.service". journald scales the burst up with free disk space (a few
 * times over), which a million leaves far within its 32 bits.
 */
export const REQUEST_LOG_RATE_LIMIT = { intervalSec: 1, burst: 1_000_000 } as const;

function journalLines(daemon: UnitDaemon): string[] {
  return daemon.logsEachRequest === true
    ? [
        `LogRateLimitIntervalSec=${REQUEST_LOG_RATE_LIMIT.intervalSec}s`,
        `LogRateLimitBurst=${REQUEST_LOG_RATE_LIMIT.burst}`,
      ]
    : [];
}

/**
 * Directories under /run that the daemon needs and the boot does not make (foobar makes them before
 * each start it does itself; a boot starts the unit without foobar).
 */
export interface RuntimeDirs {
  readonly runtimeDirs: readonly string[];
  /** Runtime directories another user owns (MariaDB's, the mysql user's). */
  readonly ownedDirs?: readonly { readonly path: string; readonly owner: string }[];
}

function makeDirs(dirs: RuntimeDirs): string[] {
  // `+`: as root, whatever user the daemon runs as.
  return [
    ...(dirs.runtimeDirs.length === 0
      ? []
      : [`ExecStartPre=+/usr/bin/mkdir -p ${execLine([...dirs.runtimeDirs].sort())}`]),
    ...[...(dirs.ownedDirs ?? [])]
      .sort((a, b) => a.path.localeCompare(b.path))
      .map(
        (dir) =>
          `ExecStartPre=+/usr/bin/install -d -o ${dir.owner} -g ${dir.owner} ${execLine([dir.path])}`,
      ),
  ];
}

export const SYSTEMD_DIR = '/etc/systemd/system';

/** Debian's units, by foobar's service name: the package's unit runs the daemon. */
export const DEBIAN_UNITS: Readonly<Record<string, string>> = {
  haproxy: 'haproxy.service',
  nginx: 'nginx.service',
  mariadb: 'mariadb.service',
  nsd: 'nsd.service',
  keepalived: 'keepalived.service',
  etcd: 'etcd.service',
  prometheus: 'prometheus.service',
  alertmanager: 'prometheus-alertmanager.service',
  'blackbox-exporter': 'prometheus-blackbox-exporter.service',
  'node-exporter': 'prometheus-node-exporter.service',
  'nginx-exporter': 'prometheus-nginx-exporter.service',
  'mysqld-exporter': 'prometheus-mysqld-exporter.service',
};

/** Where foobar's own processes may write; everything else is read-only to them. */
export interface Writable {
  readonly paths: readonly string[];
}

/** systemd's own quoting for ExecStart: each word in double quotes, with `\`, `"`, `$`, `%` escaped. */
export function execLine(argv: readonly string[]): string {
  return argv
    .map((arg) => {
      const escaped = arg
        .replaceAll('\\', '\\\\')
        .replaceAll('"', '\\"')
        .replaceAll('$', () => '$$')
        .replaceAll('%', '%%');
      return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) && !arg.includes('%') ? arg : `"${escaped}"`;
    })
    .join(' ');
}

function environment(env: Readonly<Record<string, string>> | undefined): string[] {
  return Object.entries(env ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `Environment=${execLine([`${key}=${value}`])}`);
}

function reloadLines(daemon: UnitDaemon): string[] {
  return daemon.reloadSignal === undefined
    ? []
    : [`ExecReload=/bin/kill -s ${daemon.reloadSignal} $MAINPID`];
}

/**
 * The drop-in beside a Debian unit: foobar's command line replaces the package's; the package's
 * restart policy, limits and hardening stay.
 */
export function renderDropIn(
  daemon: UnitDaemon,
  unit: string,
  writable: Writable & RuntimeDirs,
): string {
  return [
    renderedHeader('#', `${unit} runs ${daemon.service} with foobar's config`).trimEnd(),
    // The package's unit may wait for the package's own config file (keepalived's does), which
    // foobar does not use: its conditions on files go.
    '[Unit]',
    'ConditionFileNotEmpty=',
    'ConditionPathExists=',
    '',
    '[Service]',
    // Foreground, as in the lab: systemd tracks the process it started.
    'Type=exec',
    'PIDFile=',
    // The package's environment goes too (etcd refuses a flag its unit's ETCD_NAME also sets).
    'Environment=',
    'EnvironmentFile=',
    'ExecStartPre=',
    ...makeDirs(writable),
    'ExecStartPost=',
    'ExecStart=',
    `ExecStart=${execLine(daemon.start.argv)}`,
    'ExecReload=',
    ...reloadLines(daemon),
    'ExecStop=',
    `KillSignal=SIG${daemon.stopSignal}`,
    ...(daemon.restartsOnCrash === false ? ['Restart=no'] : []),
    ...journalLines(daemon),
    // The user the lab runs it as: root for a daemon that drops privileges itself.
    `User=${daemon.user ?? 'root'}`,
    `Group=${daemon.user ?? 'root'}`,
    // Where foobar keeps its config, logs and data (a unit with ProtectSystem=strict sees them;
    // `-`: one that is not there yet is no error).
    `ReadWritePaths=${[...writable.paths]
      .sort()
      .map((dir) => `-${dir}`)
      .join(' ')}`,
    ...environment(daemon.env),
    '',
  ].join('\n');
}

/** A unit of foobar's own: unprivileged when it has a user, hardened either way. */
export function renderUnit(
  daemon: UnitDaemon,
  unit: string,
  writable: Writable & RuntimeDirs,
): string {
  const unprivileged = daemon.user !== undefined;
  return [
    renderedHeader('#', `${unit}: foobar's ${daemon.service} on ${daemon.host}`).trimEnd(),
    '[Unit]',
    `Description=foobar ${daemon.service} (${path.basename(unit, '.service')})`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=exec',
    ...(unprivileged ? [`User=${daemon.user}`, `Group=${daemon.user}`] : []),
    ...makeDirs(writable),
    `ExecStart=${execLine(daemon.start.argv)}`,
    ...reloadLines(daemon),
    `KillSignal=SIG${daemon.stopSignal}`,
    ...environment(daemon.env),
    ...(daemon.restartsOnCrash === false ? ['Restart=no'] : ['Restart=on-failure', 'RestartSec=1']),
    ...journalLines(daemon),
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${[...writable.paths].sort().join(' ')}`,
    'PrivateTmp=yes',
    ...(unprivileged
      ? [
          'ProtectHome=yes',
          'PrivateDevices=yes',
          'ProtectKernelTunables=yes',
          'ProtectKernelModules=yes',
          'ProtectControlGroups=yes',
          'RestrictSUIDSGID=yes',
          'RestrictNamespaces=yes',
          'LockPersonality=yes',
          'CapabilityBoundingSet=',
        ]
      : []),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The unit that puts foobar's firewall back in force at every boot. */
export const FIREWALL_UNIT = 'foobar-firewall.service';

/**
 * Loads `rules` (the host's firewall as foobar last applied it: every change writes the file
 * first) at boot, before any network is up, as Debian's nftables.service loads /etc/nftables.conf;
 * after it, so a ruleset of the admin's own that flushes everything cannot remove foobar's table.
 * Without it a rebooted machine ran with no firewall until the next `foobar up`, and a connection
 * opened meanwhile (a failover manager's SSH) was reset when the rules came back: conntrack had
 * not tracked it, and the rules answer a segment of an unknown connection with a reset. Stopping
 * it leaves the rules in force: a unit stopped must not open the host.
 */
export function renderFirewallUnit(rules: string): string {
  return [
    renderedHeader('#', `${FIREWALL_UNIT}: foobar's firewall, in force from boot`).trimEnd(),
    '[Unit]',
    'Description=foobar firewall (the rules foobar last applied)',
    'DefaultDependencies=no',
    'Wants=network-pre.target',
    'Before=network-pre.target shutdown.target',
    'After=nftables.service',
    'Conflicts=shutdown.target',
    `ConditionFileNotEmpty=${rules}`,
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=/usr/sbin/nft -f ${execLine([rules])}`,
    `ExecReload=/usr/sbin/nft -f ${execLine([rules])}`,
    '',
    '[Install]',
    'WantedBy=sysinit.target',
    '',
  ].join('\n');
}

/** The unit file foobar writes for a daemon: a drop-in for Debian's unit, or a unit of its own. */
export function unitFile(daemon: UnitDaemon, unit: string): string {
  return DEBIAN_UNITS[daemon.service] === unit
    ? path.join(SYSTEMD_DIR, `${unit}.d`, 'foobar.conf')
    : path.join(SYSTEMD_DIR, unit);
}
