/** A drill's rows as a table: for the terminal, and as Markdown for the README. */
import type { Style } from '../cli/progress.ts';
import type { DrillReport, DrillRow } from './run.ts';
import { RESTORE_CHECK, type RestoreCheck } from './restore.ts';

/** The restore check in one line, then what it missed. */
export function restoreLines(check: RestoreCheck): string[] {
  const tables = check.live
    .map((t) => `${t.table} ${t.rows} rows, checksum ${t.checksum}`)
    .join('; ');
  return [
    `${RESTORE_CHECK.name}: full backup ${check.backup} + ${check.binlogs} binary log(s) restored to ${check.gtid} (where ${check.heldOn} was held) in ${check.rtoSeconds.toFixed(1)} s (RTO), the archive there ${check.rpoSeconds.toFixed(1)} s after the hold: ${tables || 'no table'}; ${check.passed ? 'the same on the scratch server: pass' : 'FAIL'}`,
    ...check.missed.map((m) => `  ${RESTORE_CHECK.name}: ${m} (goal: ${RESTORE_CHECK.goal})`),
  ];
}

const HEADER = [
  'fault',
  'host',
  'requests',
  'failed page/static/read/write',
  'longest outage',
  'p99 before → during',
  'writes back',
  'acked lost/dup',
  'detected',
  'recovered',
  'result',
];

function duration(ms: number | undefined | null): string {
  if (ms === undefined || ms === null) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function cells(row: DrillRow): string[] {
  // "2 (2 cut)": two failed, both in flight on a connection the fault cut.
  const failed = (kind: string): string => {
    const k = row.kinds.find((each) => each.kind === kind);
    if (k === undefined) return '—';
    return k.cutInFlight === 0 ? String(k.failed) : `${k.failed} (${k.cutInFlight} cut)`;
  };
  const worst = [...row.kinds].sort((a, b) => b.longestOutageMs - a.longestOutageMs)[0];
  return [
    row.fault,
    row.host,
    String(row.requests),
    ['page', 'static', 'read', 'write'].map(failed).join('/'),
    worst === undefined || worst.longestOutageMs === 0
      ? 'none'
      : `${duration(worst.longestOutageMs)} (${worst.kind})`,
    `${duration(row.p99BeforeMs)} → ${duration(row.p99DuringMs)}`,
    duration(row.writePauseMs),
    `${row.writes.lost}/${row.writes.duplicated} of ${row.writes.acked}`,
    duration(row.detectedMs),
    row.recoveredMs === undefined
      ? 'by the drill'
      : `${duration(row.recoveredMs)}${row.automatic ? ' (auto)' : ''}`,
    row.passed ? 'pass' : 'FAIL',
  ];
}

/** Aligned columns for a terminal, then the goal each failed row missed. */
export function formatDrill(report: DrillReport, style: Style): string {
  const body = report.rows.map(cells);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => {
        const padded = cell.padEnd(widths[i] ?? 0);
        if (i !== row.length - 1 || row === HEADER) return padded;
        return cell === 'pass' ? style.green(padded) : style.red(padded);
      })
      .join('  ')
      .trimEnd();
  const misses = report.rows.flatMap((r) => r.missed.map((m) => `  ${r.fault}: ${m}`));
  const failed = report.rows.filter((r) => !r.passed).length;
  const restore =
    report.restore === undefined
      ? []
      : restoreLines(report.restore).map((l, i) =>
          i > 0 ? l : report.restore?.passed === true ? style.green(l) : style.red(l),
        );
  const faults =
    report.rows.length === 0
      ? []
      : [
          style.bold(line(HEADER)),
          ...body.map(line),
          '',
          failed === 0
            ? style.green(`every fault met its goal (${report.rows.length})`)
            : style.red(`${failed} of ${report.rows.length} faults missed their goal:`),
          ...misses,
        ];
  return [...faults, ...(faults.length > 0 && restore.length > 0 ? [''] : []), ...restore, ''].join(
    '\n',
  );
}

/** The same table in Markdown, with when and where it ran. */
export function markdownDrill(report: DrillReport): string {
  const row = (cellsOf: readonly string[]): string =>
    `| ${cellsOf.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [
    `Drill of lab \`${report.lab}\`, ${report.startedAt} on ${report.machine}:`,
    '',
    row(HEADER),
    row(HEADER.map(() => '---')),
    ...report.rows.map((r) => row(cells(r))),
    '',
    ...report.rows.flatMap((r) => r.missed.map((m) => `- ${r.fault}: ${m}`)),
    ...(report.restore === undefined
      ? []
      : ['', ...restoreLines(report.restore).map((l) => `- ${l.trim()}`)]),
    '',
  ].join('\n');
}
