/**
 * Provisioning a Debian 12 machine, idempotently: the packages foobar's daemons come from, the
 * `foobar` user, this checkout's Node.js (Debian 12's is too old for the app), the sysctls the
 * daemons need, foobar's directories (and /run/foobar again after every boot). A machine that has
 * it all changes nothing and says so.
 */
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from '../../drivers/driver.ts';
import { APP_USER, hostPaths, MACHINE_PATHS, runtimeOf } from '../../model/layout.ts';
import { systemctl } from '../../commands/systemctl.ts';
import { findHost } from '../../model/model.ts';
import { parseBlock, parseIPv4, subnetContains } from '../../model/net.ts';
import { nft } from '../../commands/nft.ts';
import {
  closeMirrors,
  firewallFile,
  mirrorSetAndRule,
  openMirrors,
} from '../../render/nftables/index.ts';
import {
  DEBIAN_UNITS,
  FIREWALL_UNIT,
  renderFirewallUnit,
  SYSTEMD_DIR,
} from '../../render/systemd/index.ts';
import {
  JOURNALD_FILE,
  LOGROTATE_UNIT,
  LOG_CHECK_SECONDS,
  OLD_LOGROTATE_TIMER,
  renderJournald,
  renderLogrotate,
  renderLogrotateService,
  type RotatedLog,
} from '../../render/logging/index.ts';
import type { Context } from '../../steps/context.ts';
import type { ReadFiles } from '../platform.ts';
import { writeFiles, type Daemon } from '../../steps/daemon.ts';
import { daemonsOf } from '../../steps/services.ts';
import { unitOf } from './supervisor.ts';

let packages: readonly string[] | undefined;

/**
 * Every server's Debian packages: the list scripts/bootstrap.sh installs in the lab too. Read on
 * first use: the daemons' bundles include this module and have no scripts/ beside them.
 */
export function serverPackages(): readonly string[] {
  packages ??= readFileSync(
    new URL('../../../scripts/server-packages.txt', import.meta.url),
    'utf8',
  )
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
  return packages;
}

export const SYSCTL_FILE = '/etc/sysctl.d/60-foobar.conf';
export const TMPFILES_FILE = '/etc/tmpfiles.d/foobar.conf';
/** The package list apt-get last installed on the machine. */
export const PACKAGES_STAMP = '/var/lib/foobar/packages.stamp';

/** HAProxy and Nginx may bind an address keepalived has not moved here yet. */
export function renderSysctls(): string {
  return ['# foobar: the sysctls its daemons need.', 'net.ipv4.ip_nonlocal_bind = 1', ''].join(
    '\n',
  );
}

export function renderTmpfiles(): string {
  return [
    '# foobar: its runtime directory, made again at every boot.',
    `d ${MACHINE_PATHS.run} 0755 root root -`,
    '',
  ].join('\n');
}

const FIREWALL_UNIT_FILE = path.join(SYSTEMD_DIR, FIREWALL_UNIT);
export const LOGROTATE_CONFIG = path.join(MACHINE_PATHS.etc, 'logrotate.conf');
const LOGROTATE_STATE = path.join(MACHINE_PATHS.data, 'logrotate.status');
const LOGROTATE_SERVICE_FILE = path.join(SYSTEMD_DIR, LOGROTATE_UNIT);
const OLD_LOGROTATE_TIMER_FILE = path.join(SYSTEMD_DIR, OLD_LOGROTATE_TIMER);

/**
 * The files a host's daemons write themselves (the others' output goes to the journal): their
 * logs, and the output of those that reopen their logs on a signal (Nginx's error log), which
 * write it themselves too. Both app slots write one file.
 */
export function rotatedLogs(daemons: readonly Daemon[]): RotatedLog[] {
  const logs = new Map<string, RotatedLog>();
  for (const daemon of daemons) {
    const reopens = daemon.reopenLogsSignal !== undefined;
    for (const file of reopens ? [...daemon.logs, daemon.outputLog] : daemon.logs)
      logs.set(file, reopens ? { path: file, reopenUnit: unitOf(daemon) } : { path: file });
  }
  return [...logs.values()];
}

/**
 * The host's logs within `logs.maxMegabytesPerHost` (render/logging): journald's limits, applied
 * by restarting it (the daemons' output streams survive that: journald keeps them open in
 * systemd's file store), and logrotate every `LOG_CHECK_SECONDS` (a service of its own, restarted
 * when its unit changes; the timer of earlier versions goes). Resolves to what it did.
 */
export async function ensureLogLimits(
  ctx: Context,
  host: string,
  daemons: readonly Daemon[],
  read: ReadFiles,
): Promise<string[]> {
  const done: string[] = [];
  const config = { path: JOURNALD_FILE, content: renderJournald(ctx.model.logs), mode: 0o644 };
  if (await writeFiles(ctx, host, [config], read)) {
    await ctx.driver.exec(host, systemctl.restart('systemd-journald.service'));
    done.push('journal limits set');
  }
  const rotation = renderLogrotate(ctx.model.logs, rotatedLogs(daemons));
  const unit = await writeFiles(
    ctx,
    host,
    [
      {
        path: LOGROTATE_SERVICE_FILE,
        content: renderLogrotateService(LOGROTATE_CONFIG, LOGROTATE_STATE),
      },
    ],
    read,
  );
  const rotating = await writeFiles(
    ctx,
    host,
    [{ path: LOGROTATE_CONFIG, content: rotation, mode: 0o644 }],
    read,
  );
  const oldTimer = read.get(OLD_LOGROTATE_TIMER_FILE) !== undefined;
  if (oldTimer) {
    await ctx.driver.exec(host, systemctl.disableNow(OLD_LOGROTATE_TIMER));
    await ctx.driver.remove(host, OLD_LOGROTATE_TIMER_FILE);
  }
  if (unit || oldTimer) await ctx.driver.exec(host, systemctl.daemonReload());
  if (unit) {
    await ctx.driver.exec(host, systemctl.enable(LOGROTATE_UNIT));
    await ctx.driver.exec(host, systemctl.restart(LOGROTATE_UNIT));
  }
  // logrotate reads its config at every look: a new one needs no restart.
  if (unit || rotating) done.push(`log files rotated every ${LOG_CHECK_SECONDS} s`);
  return done;
}

/** The host's firewall rules, as the Firewalls phase writes them: what the boot loads. */
function rulesOf(ctx: Context, host: string): string {
  return firewallFile(hostPaths(ctx.model, host));
}

/** How long apt-get may take to install (apt.install's bound). */
const APT_TIMEOUT_MS = 1_800_000;

/** The mirror stays open at most this long: apt-get's bound and a minute, then it closes by itself. */
export const MIRROR_OPEN_SECONDS = APT_TIMEOUT_MS / 1000 + 60;

export const apt = {
  /** One line per package dpkg knows: `NAME STATUS` (`installed` when it is). */
  status: (packages: readonly string[]): Command => ({
    argv: ['dpkg-query', '--show', '--showformat=${Package} ${db:Status-Status}\n', ...packages],
    readOnly: true,
  }),
  /** Installs what is missing; present packages are left as they are (no upgrade). */
  install: (packages: readonly string[]): Command => ({
    argv: [
      'env',
      'DEBIAN_FRONTEND=noninteractive',
      'apt-get',
      '-o',
      'DPkg::Lock::Timeout=600',
      'install',
      '-y',
      '--no-install-recommends',
      '--no-upgrade',
      ...packages,
    ],
    timeoutMs: APT_TIMEOUT_MS,
  }),
};

/**
 * Runs `install` with the machine's output open to the package mirrors the model names, and
 * closes it again after, whatever became of it. Open means: the firewall's mirror set filled,
 * each element expiring by itself after MIRROR_OPEN_SECONDS (a foobar that stops meanwhile leaves
 * no lasting hole). A machine whose rules have no mirror set (rules of a foobar before it) gets
 * the set and its rule added to the table in force, until the Firewalls phase replaces it; one
 * without foobar's table (a machine's first `up`) has nothing that refuses the mirror.
 */
export async function withMirrorsOpen<T>(
  ctx: Context,
  host: string,
  install: () => Promise<T>,
): Promise<T> {
  const mirrors = ctx.model.platform.kind === 'machines' ? ctx.model.platform.outside.mirrors : [];
  if (mirrors.length === 0) return install();
  const open = openMirrors(mirrors, MIRROR_OPEN_SECONDS);
  const opened = await ctx.driver.exec(host, nft.applyInput(open), { check: false });
  if (opened.exitCode !== 0) {
    // One transaction: where the table is missing altogether, it fails and changes nothing.
    await ctx.driver.exec(host, nft.applyInput(`${mirrorSetAndRule()}${open}`), { check: false });
  }
  try {
    return await install();
  } finally {
    await ctx.driver.exec(host, nft.applyInput(closeMirrors()), { check: false });
  }
}

/** Where a machine's resolver is named (preflight reads it to compare, never to derive). */
export const RESOLV_CONF = '/etc/resolv.conf';

/**
 * The name servers a machine's /etc/resolv.conf names that no block of `resolvers` (the model's
 * `machines.resolvers`) holds: its firewall refuses their lookups. Loopback ones (a local stub
 * such as systemd-resolved's 127.0.0.53) pass by loopback; IPv6 ones are not compared.
 */
export function unnamedResolvers(resolvConf: string, resolvers: readonly string[]): string[] {
  const blocks = resolvers.flatMap((text) => {
    const block = parseBlock(text);
    return typeof block === 'string' ? [] : [block];
  });
  return resolvConf
    .split('\n')
    .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
    .filter((server): server is string => server !== undefined && parseIPv4(server) !== undefined)
    .filter((server) => !server.startsWith('127.'))
    .filter((server) => !blocks.some((block) => subnetContains(block, server)));
}

/** The packages of `wanted` that dpkg-query's lines do not say are installed. */
export function missingPackages(wanted: readonly string[], dpkgOutput: string): string[] {
  const installed = new Set(
    dpkgOutput
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name),
  );
  return wanted.filter((name) => !installed.has(name));
}

/** "0 upgraded, 3 newly installed, ..." → 3. */
export function newlyInstalled(aptOutput: string): number {
  return Number(/(\d+) newly installed/.exec(aptOutput)?.[1] ?? '0');
}

async function ensureUser(ctx: Context, host: string): Promise<boolean> {
  const found = await ctx.driver.exec(
    host,
    { argv: ['id', '-u', APP_USER], readOnly: true },
    { check: false },
  );
  if (found.exitCode === 0) return false;
  await ctx.driver.exec(host, {
    argv: [
      'useradd',
      '--system',
      '--user-group',
      '--home-dir',
      '/nonexistent',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      APP_USER,
    ],
  });
  return true;
}

/** This checkout's Node.js, with a stamp that says which, so a second run copies nothing. */
async function ensureRuntime(ctx: Context, host: string, read: ReadFiles): Promise<boolean> {
  const runtime = runtimeOf(ctx.model);
  const want = `${process.version} ${(await stat(ctx.nodeBinary)).size}\n`;
  if (read.get(`${runtime}.stamp`) === want) return false;
  await ctx.driver.mkdir(host, path.dirname(runtime));
  await ctx.driver.copyFile(host, ctx.nodeBinary, runtime);
  await ctx.driver.writeFile(host, `${runtime}.stamp`, want, 0o644);
  return true;
}

/**
 * Debian starts a package's daemon when it is installed and at every boot: those foobar does not
 * run on this machine are stopped and disabled (they would hold its ports and memory). And the
 * firewall's boot unit is enabled if it is not. Resolves to what it did.
 */
async function settleUnits(
  ctx: Context,
  host: string,
  daemons: readonly Daemon[],
): Promise<string[]> {
  const ours = new Set(daemons.map((daemon) => unitOf(daemon)));
  const others = [...new Set(Object.values(DEBIAN_UNITS))].filter((unit) => !ours.has(unit)).sort();
  // One round trip for all of them: a no-op `up` must be quick.
  const asked = await ctx.driver.exec(
    host,
    systemctl.areEnabledAndActive([...others, FIREWALL_UNIT]),
    { check: false },
  );
  const lines = asked.stdout.split('\n');
  const separator = lines.indexOf('--');
  const enabledLines = lines.slice(0, separator);
  const activeLines = lines.slice(separator + 1);
  const running = others.filter(
    (_, i) => enabledLines[i]?.trim() === 'enabled' || activeLines[i]?.trim() === 'active',
  );
  for (const unit of running) await ctx.driver.exec(host, systemctl.disableNow(unit));
  const done = running.length === 0 ? [] : [`${running.join(', ')} stopped and disabled`];
  if (enabledLines[others.length]?.trim() !== 'enabled') {
    await ctx.driver.exec(host, systemctl.enable(FIREWALL_UNIT));
    done.push('firewall loaded at boot (unit enabled)');
  }
  return done;
}

/** Provisions one machine; resolves to what changed, or "up to date". */
export async function provisionMachine(ctx: Context, host: string): Promise<string> {
  const done: string[] = [];
  // apt-get installs the list once (and again when it changes); later, dpkg says at once what is
  // missing, where apt-get would work out the whole dependency tree first (seconds under load).
  const wanted = serverPackages();
  const stamp = `${wanted.join('\n')}\n`;
  let missing: readonly string[] = wanted;
  // Every stamp and file it checks, in one round trip.
  const files = [
    PACKAGES_STAMP,
    `${runtimeOf(ctx.model)}.stamp`,
    SYSCTL_FILE,
    TMPFILES_FILE,
    FIREWALL_UNIT_FILE,
    JOURNALD_FILE,
    LOGROTATE_CONFIG,
    LOGROTATE_SERVICE_FILE,
    OLD_LOGROTATE_TIMER_FILE,
  ];
  const contents = await ctx.driver.readFiles(host, files);
  const read: ReadFiles = new Map(files.map((file, i) => [file, contents[i]]));
  if (read.get(PACKAGES_STAMP) === stamp) {
    const known = await ctx.driver.exec(host, apt.status(wanted), { check: false });
    missing = missingPackages(wanted, known.stdout);
  }
  if (missing.length > 0) {
    const installing = await withMirrorsOpen(ctx, host, () =>
      ctx.driver.exec(host, apt.install(missing)),
    );
    const installed = newlyInstalled(installing.stdout);
    if (installed > 0) done.push(`${installed} packages installed`);
    await ctx.driver.mkdir(host, path.dirname(PACKAGES_STAMP));
    await ctx.driver.writeFile(host, PACKAGES_STAMP, stamp, 0o644);
  }
  if (await ensureUser(ctx, host)) done.push(`user ${APP_USER} created`);
  if (await ensureRuntime(ctx, host, read)) done.push(`Node.js ${process.version}`);
  const written = (file: string, content: string): Promise<boolean> =>
    writeFiles(ctx, host, [{ path: file, content, mode: 0o644 }], read);
  if (await written(SYSCTL_FILE, renderSysctls())) {
    // A shared kernel (a container) may refuse some: say which, do not fail.
    const applied = await ctx.driver.exec(
      host,
      { argv: ['sysctl', '-p', SYSCTL_FILE] },
      {
        check: false,
      },
    );
    done.push(
      applied.exitCode === 0 ? 'sysctls set' : `sysctls written (${applied.stderr.trim()})`,
    );
  }
  if (await written(TMPFILES_FILE, renderTmpfiles())) done.push('runtime directory at boot');
  // The unit that loads the firewall at boot: written here, enabled below with the other units'
  // answers (no round trip of its own).
  const bootFirewall = await written(FIREWALL_UNIT_FILE, renderFirewallUnit(rulesOf(ctx, host)));
  if (bootFirewall) await ctx.driver.exec(host, systemctl.daemonReload());
  const dirs = [
    MACHINE_PATHS.etc,
    MACHINE_PATHS.log,
    MACHINE_PATHS.run,
    MACHINE_PATHS.data,
    MACHINE_PATHS.releases,
  ];
  const listed = await ctx.driver.exec(
    host,
    { argv: ['ls', '-d', ...dirs], readOnly: true },
    { check: false },
  );
  const present = new Set(listed.stdout.split('\n'));
  const absent = dirs.filter((dir) => !present.has(dir));
  for (const dir of absent) await ctx.driver.mkdir(host, dir);
  if (absent.length > 0) done.push(`${absent.length} directories made`);
  if (bootFirewall) done.push('firewall boot unit written');
  // Both app slots and the restore's scratch server too: they have units and log files.
  const spec = findHost(ctx.model, host);
  const daemons = spec === undefined ? [] : await daemonsOf(ctx, spec, true);
  done.push(...(await ensureLogLimits(ctx, host, daemons, read)));
  done.push(...(await settleUnits(ctx, host, daemons)));
  return done.length === 0 ? `up to date (${wanted.length} packages present)` : done.join(', ');
}
