/** `foobar status` as a table a person reads at a glance. */
import type { LabStatus } from '../steps/status.ts';
import type { Style } from './progress.ts';

function pad(text: string, width: number): string {
  return text.padEnd(width);
}

export function formatStatus(status: LabStatus, style: Style): string {
  const mark = (ok: boolean): string => (ok ? style.green('●') : style.red('●'));
  const lines: string[] = [];
  const health =
    status.health === 'healthy'
      ? style.green('healthy')
      : status.health === 'degraded'
        ? style.yellow('degraded')
        : style.red('failed');
  lines.push(`${style.bold(`www.${status.domain}`)} (lab ${status.lab}): ${health}`, '');
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
    return [
      host.name,
      host.roles.join(','),
      addresses,
      (host.up ? services : style.red('down')) + release + dropped,
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
  if (status.site.length > 0) {
    lines.push('', 'The site, from the client host:');
    for (const check of status.site)
      lines.push(`  ${mark(check.ok)} ${check.url} ${style.dim(check.detail)}`);
  }
  return `${lines.join('\n')}\n`;
}
