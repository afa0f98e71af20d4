/** `foobar status` as a table a person reads at a glance. */
import type { ChangeReport } from '../steps/db/changes.ts';
import type { FailoverView } from '../steps/failover.ts';
import type { DbStatus } from '../steps/db/status.ts';
import type { Health, LabStatus } from '../steps/status.ts';
import type { Style } from './progress.ts';

function healthWord(health: Health, style: Style): string {
  if (health === 'healthy') return style.green('healthy');
  return health === 'degraded' ? style.yellow('degraded') : style.red('failed');
}

function marker(style: Style): (ok: boolean) => string {
  return (ok) => (ok ? style.green('●') : style.red('●'));
}

function pad(text: string, width: number): string {
  return text.padEnd(width);
}

export function formatStatus(status: LabStatus, style: Style): string {
  const mark = marker(style);
  const lines: string[] = [];
  const health = healthWord(status.health, style);
  lines.push(`${style.bold(`www.${status.domain}`)} (lab ${status.lab}): ${health}`, '');
  if (status.hosts.every((host) => !host.up)) {
    return `${lines.join('\n')}The lab is not up: run foobar up (or npm start).\n`;
  }
  const rows = status.hosts.map((host) => {
    const addresses = Object.entries(host.addresses)
      .map(([net, address]) => `${net} ${address}`)
      .join(', ');
    const services = host.services
      .map(
        (s) =>
          `${mark(s.healthy)} ${s.name}${s.healthy ? '' : style.dim(` (${s.detail ?? 'unhealthy'})`)}`,
      )
      .join('  ');
    const release = host.release === undefined ? '' : style.dim(`  release ${host.release}`);
    const dropped =
      host.dropped === undefined ? '' : style.dim(`  firewall dropped ${host.dropped}`);
    const refused =
      host.refused === undefined ? '' : style.dim(`, refused ${host.refused} outgoing`);
    return [
      host.name,
      host.roles.join(','),
      addresses,
      (host.up ? services : style.red('down')) + release + dropped + refused,
    ];
  });
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const row of rows) {
    lines.push(`  ${row.map((cell, i) => (i < 3 ? pad(cell, widths[i] ?? 0) : cell)).join('  ')}`);
  }
  if (status.loadBalancers.length > 0) {
    lines.push('', 'Load balancers see:');
    for (const lb of status.loadBalancers) {
      const view =
        lb.error !== undefined
          ? style.red(lb.error)
          : lb.servers
              .map((s) => `${mark(s.up)} ${s.name} ${s.up ? '' : style.dim(s.status)}`.trimEnd())
              .join('  ');
      lines.push(`  ${pad(lb.name, 8)} ${view}`);
    }
  }
  if (status.virtualAddresses.length > 0) {
    lines.push('', 'Virtual addresses (in DNS):');
    for (const vip of status.virtualAddresses) {
      const alone = vip.holders.length === 1;
      const where =
        vip.holders.length === 0
          ? style.red('held by nobody')
          : `held by ${vip.holders.join(' and ')}`;
      const note = !alone
        ? ''
        : vip.holders[0] === vip.owner
          ? ''
          : style.dim(` (${vip.owner}'s: it takes it back once its HAProxy is healthy)`);
      lines.push(
        `  ${mark(alone && vip.holders[0] === vip.owner)} ${pad(vip.address, 15)} ${alone ? where : style.red(where)}${note}`,
      );
    }
  }
  if (status.releases.drift.length > 0) {
    lines.push('', style.yellow('Release drift:'));
    for (const problem of status.releases.drift) lines.push(`  ${style.yellow('!')} ${problem}`);
  }
  const monitoring = status.monitoring;
  if (monitoring !== undefined) {
    lines.push('', `Monitoring (dashboard ${monitoring.dashboard}):`);
    if (monitoring.error !== undefined) {
      lines.push(`  ${mark(false)} ${style.red(monitoring.error)}`);
    } else {
      const { up, total, down } = monitoring.targets;
      lines.push(`  ${mark(down.length === 0)} ${up}/${total} Prometheus targets up`);
      for (const target of down) lines.push(`      ${style.dim(target)}`);
      const firing = monitoring.alerts;
      lines.push(
        `  ${mark(firing.length === 0)} ${firing.length === 0 ? 'no alert firing' : `${firing.length} alert${firing.length === 1 ? '' : 's'} firing`}`,
      );
      for (const alert of firing) {
        const severity = alert.severity === 'critical' ? style.red : style.yellow;
        lines.push(`      ${severity(alert.severity)} ${alert.name}: ${alert.summary}`);
      }
    }
  }
  if (status.site.length > 0) {
    lines.push('', 'The site, from the client host:');
    for (const check of status.site)
      lines.push(`  ${mark(check.ok)} ${check.url} via ${check.via} ${style.dim(check.detail)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `foobar db status` as a table. */
export function formatDbStatus(status: DbStatus, style: Style): string {
  const mark = marker(style);
  const health = healthWord(status.health, style);
  const lines = [`${style.bold('Databases')}: ${health}`, ''];
  const semi = status.semiSync
    ? style.green(
        `semi-sync on (${status.semiSyncReplicas} replica${status.semiSyncReplicas === 1 ? '' : 's'} acknowledging)`,
      )
    : style.yellow('semi-sync off');
  lines.push(
    `  primary  ${mark(status.writable)} ${status.primary}  ${status.primaryUp ? (status.writable ? 'writable' : 'read-only') : 'down'}  gtid ${status.gtidBinlogPos || '-'}  ${semi}`,
  );
  for (const r of status.replicas) {
    const lag = r.lagSeconds === null ? 'lag -' : `lag ${r.lagSeconds} s`;
    const threads = `io ${mark(r.ioRunning)} sql ${mark(r.sqlRunning)}`;
    const error = r.lastError === null ? '' : style.red(`  ${r.lastError}`);
    lines.push(
      `  replica  ${mark(r.up && r.ioRunning && r.sqlRunning)} ${r.name}  from ${r.source ?? '-'}  ${threads}  ${lag}  gtid ${r.gtidSlavePos || '-'}${error}`,
    );
  }
  for (const f of status.fenced)
    lines.push(
      `  fenced   ${style.red('●')} ${f.name}  ${style.dim(`run foobar db rejoin ${f.name}`)}`,
    );
  for (const r of status.restored)
    lines.push(
      `  restored ${style.yellow('●')} ${r.name}  ${r.up ? '' : 'down  '}restored to ${r.point}, not replicating  gtid ${r.gtid || '-'}  ${style.dim(`run foobar db rejoin ${r.name} to make it a replica`)}`,
    );
  for (const name of status.unreached)
    lines.push(
      `  unreached ${style.red('●')} ${name}  ${style.dim('owed by the last change of primary: the failover managers heal it once it answers (or foobar up, foobar db rejoin)')}`,
    );
  if (status.backups !== undefined) {
    const ago = (iso: string | undefined): string =>
      iso === undefined
        ? 'none'
        : `${iso} (${((Date.now() - Date.parse(iso)) / 1000).toFixed(0)} s ago)`;
    lines.push(
      `  backups  recoverable up to ${ago(status.backups.recoverableAt)} (RPO); newest full backup ${ago(status.backups.lastFull)}`,
    );
  }
  if (status.problems.length > 0) {
    lines.push('', ...status.problems.map((p) => `  ${style.yellow('!')} ${p}`));
  }
  lines.push('', ...formatFailover(status.failover, style));
  return `${lines.join('\n')}\n`;
}

/** The failover managers' view: etcd, the leader, armed or paused (and why), each observer. */
function formatFailover(view: FailoverView, style: Style): string[] {
  const mark = marker(style);
  const state = view.armed ? style.green('armed') : style.yellow(`paused: ${view.pausedBecause}`);
  const members = view.members.map((m) => `${mark(m.healthy)} ${m.name}`).join('  ');
  const lines = [
    `${style.bold('Automatic failover')}: ${state}`,
    `  etcd     ${members}${view.etcd ? '' : style.red('  no quorum')}`,
    `  leader   ${view.leader ?? '-'}${view.topology === null ? '' : `  topology epoch ${view.topology.epoch}, primary ${view.topology.primary} (${view.topology.by})`}`,
  ];
  if (view.lastAutomatic !== null)
    lines.push(
      `  last automatic failover ${view.lastAutomatic.from} → ${view.lastAutomatic.to} at ${view.lastAutomatic.at}`,
    );
  for (const o of view.observers) {
    const seen = o.reachable
      ? 'reaches the primary'
      : `cannot reach the primary for ${o.failingForMs} ms (${o.detail})`;
    lines.push(
      `  observer ${mark(o.reachable)} ${o.manager}  ${seen}  ${style.dim(`${o.ageMs} ms ago`)}`,
    );
    if (o.webServers !== undefined) {
      const cut = o.webServers.cutForMs > 0;
      const web = cut
        ? `no web server reaches the primary, for ${o.webServers.cutForMs} ms`
        : 'web servers';
      lines.push(`           ${mark(!cut)} ${web}: ${o.webServers.detail}`);
    }
  }
  return lines;
}

/** What promote, switchover or rejoin did, step by step with timings. */
export function formatChange(report: ChangeReport, style: Style): string {
  const headline =
    report.action === 'rejoin'
      ? `${report.host} is a replica of ${report.primary}`
      : `${report.primary} is the primary (was ${report.previous})`;
  const lines = [`${style.green('✔')} ${headline} in ${report.totalMs} ms`];
  for (const step of report.steps) lines.push(`  ${step.what} ${style.dim(`${step.ms} ms`)}`);
  if (report.writePauseMs !== undefined)
    lines.push(`  writes paused for ${report.writePauseMs} ms`);
  for (const note of report.notes) lines.push(`  ${style.dim(note)}`);
  return `${lines.join('\n')}\n`;
}
