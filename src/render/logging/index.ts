/**
 * A machine's logs under `logs.maxMegabytesPerHost`, as the lab's log rotator keeps a namespace's.
 * The daemons' output goes to the journal, and the files foobar's daemons write (Nginx's access
 * log, the app's, NSD's, the alerts') to /var/log/foobar: each gets half of the cap. The journal's
 * half is journald's own limits (a drop-in); the files' half is logrotate's, run every
 * `LOG_CHECK_SECONDS` by a service of foobar's own (Debian's timer runs it once a day, too seldom
 * for a size cap: at full speed a web server's access log grows by about a megabyte a second).
 */
import path from 'node:path';
import type { LogSettings } from '../../model/model.ts';
import { renderedHeader } from '../header.ts';

export const JOURNALD_FILE = '/etc/systemd/journald.conf.d/60-foobar.conf';
export const LOGROTATE_UNIT = 'foobar-logrotate.service';
/** The timer that ran it every minute until the service loop replaced it: removed where found. */
export const OLD_LOGROTATE_TIMER = 'foobar-logrotate.timer';

/**
 * How often a host's logs are looked at, on machines (logrotate) as in the lab (foobar's rotator):
 * at full speed a live file outgrows its share within seconds, and a look costs logrotate about
 * 2 ms of CPU (measured: `perf stat -r 20 logrotate` on five files).
 */
export const LOG_CHECK_SECONDS = 2;

/** Generations of a rotated file that logrotate keeps (compressed) beside the live one. */
export const ROTATED_KEPT = 4;

/** The journal's share of a host's cap, in MB (the files get the rest). */
export function journalMegabytes(settings: LogSettings): number {
  return Math.floor(settings.maxMegabytesPerHost / 2);
}

/**
 * journald's limits: its files together under the journal's share, on disk and in /run (the
 * journal is volatile where /var/log/journal does not exist), each file closed at a fifth of that
 * or after `rotateHours`, entries older than `keepDays` dropped.
 */
export function renderJournald(settings: LogSettings): string {
  const total = journalMegabytes(settings);
  const file = Math.max(1, Math.floor(total / 5));
  return [
    renderedHeader('#', 'the journal within its share of each host’s log cap').trimEnd(),
    '[Journal]',
    `SystemMaxUse=${total}M`,
    `SystemMaxFileSize=${file}M`,
    `RuntimeMaxUse=${total}M`,
    `RuntimeMaxFileSize=${file}M`,
    `MaxFileSec=${settings.rotateHours}h`,
    `MaxRetentionSec=${settings.keepDays}day`,
    '',
  ].join('\n');
}

/** A file to rotate, and how its writer lets go of it. */
export interface RotatedLog {
  readonly path: string;
  /**
   * A unit told by USR1 to reopen its logs (Nginx), after the file is renamed; without one the
   * file is copied and truncated in place (its writer appends, so it writes on at the start).
   */
  readonly reopenUnit?: string;
}

/**
 * logrotate's config for a host's files: each rotated when over its share of the files' half of
 * the cap (that half over the files and their generations), or daily (hourly when `rotateHours`
 * is under a day), compressed, kept `ROTATED_KEPT` generations and `keepDays` at most.
 */
export function renderLogrotate(settings: LogSettings, logs: readonly RotatedLog[]): string {
  const budgetKb = (settings.maxMegabytesPerHost - journalMegabytes(settings)) * 1024;
  const eachKb = Math.max(64, Math.floor(budgetKb / Math.max(1, logs.length) / (ROTATED_KEPT + 1)));
  const sorted = [...logs].sort((a, b) => a.path.localeCompare(b.path));
  const block = (paths: readonly string[], lines: readonly string[]): string[] => [
    `${paths.join(' ')} {`,
    `    ${settings.rotateHours < 24 ? 'hourly' : 'daily'}`,
    `    maxsize ${eachKb}k`,
    `    rotate ${ROTATED_KEPT}`,
    `    maxage ${settings.keepDays}`,
    '    compress',
    '    missingok',
    '    notifempty',
    // Sorted by name is sorted by time, as the lab's rotated copies.
    '    dateext',
    '    dateformat .%Y%m%dT%H%M%S',
    ...lines.map((line) => `    ${line}`),
    '}',
  ];
  const copied = sorted.filter((log) => log.reopenUnit === undefined).map((log) => log.path);
  const byUnit = new Map<string, string[]>();
  for (const log of sorted)
    if (log.reopenUnit !== undefined)
      byUnit.set(log.reopenUnit, [...(byUnit.get(log.reopenUnit) ?? []), log.path]);
  return [
    renderedHeader('#', `logrotate for foobar’s log files (${LOGROTATE_UNIT})`).trimEnd(),
    ...(copied.length === 0 ? [] : block(copied, ['copytruncate'])),
    ...[...byUnit.entries()].flatMap(([unit, paths]) =>
      block(paths, [
        'sharedscripts',
        'postrotate',
        `    systemctl kill --kill-whom=main --signal=USR1 ${unit} || true`,
        'endscript',
      ]),
    ),
    '',
  ].join('\n');
}

/**
 * logrotate every `LOG_CHECK_SECONDS`, on foobar's config and with a state file of its own, in a
 * loop of its own: a timer that often would have systemd log each run's start and end, three lines
 * every 2 s in the very journal whose share of the cap they would eat. logrotate says nothing when
 * all is well, so what the unit logs is an error.
 */
export function renderLogrotateService(config: string, state: string): string {
  const once = `/usr/sbin/logrotate --state ${state} ${config}`;
  return [
    renderedHeader('#', `${LOGROTATE_UNIT}: foobar's log files within their cap`).trimEnd(),
    '[Unit]',
    `Description=Rotate foobar's log files every ${LOG_CHECK_SECONDS} s (${path.basename(config)})`,
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=/bin/sh -c 'while :; do ${once}; sleep ${LOG_CHECK_SECONDS}; done'`,
    'Restart=always',
    `RestartSec=${LOG_CHECK_SECONDS}`,
    'Nice=19',
    'IOSchedulingClass=idle',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
