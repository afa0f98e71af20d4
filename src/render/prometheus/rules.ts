/**
 * Alert rules: what would wake an on-call engineer. `critical` alerts are about users or data
 * now; `warning` ones can wait for the morning. Thresholds and durations come from the model's
 * monitoring settings, so the lab alerts within seconds and a real site would not flap.
 */
import { stringify } from 'yaml';
import { FIREWALL_PACKETS_METRIC } from '../../commands/nft.ts';
import type { Model } from '../../model/model.ts';
import { SCRAPE_JOBS, PROBE_JOBS, scrapeTargets } from '../../model/monitoring.ts';
import { renderedHeader } from '../header.ts';
import { DROP_COUNTERS } from '../nftables/index.ts';
import { YAML_OPTIONS } from '../yaml.ts';
import {
  appErrorRatio,
  appLatency,
  appRequestRate,
  siteErrorRatio,
  siteRequestRate,
} from './queries.ts';

export type Severity = 'critical' | 'warning';

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** Seconds the condition must hold; the model's alertAfterSeconds when left out. */
  readonly forSeconds?: number;
  readonly severity: Severity;
  readonly summary: string;
  readonly description: string;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

/** Filesystems that are not disks. */
const NOT_DISKS = 'fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs"';

/** Alerts on the failover managers' own metrics: none where no manager runs (machines, yet). */
const MANAGER_ALERTS: readonly string[] = ['FailoverPaused', 'AutomaticFailover'];

export function alertGroups(model: Model): RuleGroup[] {
  const managersScraped = SCRAPE_JOBS.some(
    (job) => job.port === 'failoverMetrics' && scrapeTargets(model, job).length > 0,
  );
  return allAlertGroups(model).map((group) => ({
    ...group,
    rules: group.rules.filter((rule) => managersScraped || !MANAGER_ALERTS.includes(rule.alert)),
  }));
}

function allAlertGroups(model: Model): RuleGroup[] {
  const m = model.monitoring;
  const w = `${m.rateWindowSeconds}s`;
  const remoteJobs = SCRAPE_JOBS.map((job) => job.job).join('|');
  const refusedEachMinute = `(increase(${FIREWALL_PACKETS_METRIC}{counter="${DROP_COUNTERS.output}"}[2m]) > bool 0)`;
  const percent = (ratio: number): string => `${Math.round(ratio * 1000) / 10}%`;
  return [
    {
      name: 'hosts',
      rules: [
        {
          alert: 'HostDown',
          expr: `max by (host) (up{job=~"${remoteJobs}"}) == 0`,
          severity: 'critical',
          summary: '{{ $labels.host }} is down',
          description: 'Nothing on {{ $labels.host }} answers the monitor.',
        },
        {
          alert: 'ExporterDown',
          expr: `up{job=~"node|nginx|mysqld|blackbox"} == 0`,
          severity: 'warning',
          summary: 'The {{ $labels.job }} exporter on {{ $labels.host }} is down',
          description: 'Prometheus cannot scrape {{ $labels.instance }}: its metrics are missing.',
        },
        {
          alert: 'AlertmanagerDown',
          expr: 'up{job="alertmanager"} == 0',
          severity: 'warning',
          summary: 'Alertmanager on {{ $labels.host }} is down',
          description: 'Alerts fire on the dashboard but nobody is notified.',
        },
        {
          alert: 'DiskAlmostFull',
          expr: `node_filesystem_avail_bytes{${NOT_DISKS}} / node_filesystem_size_bytes{${NOT_DISKS}} < ${m.diskFreeRatio} and node_filesystem_readonly == 0`,
          severity: 'critical',
          summary: '{{ $labels.mountpoint }} on {{ $labels.host }} is almost full',
          description: `Less than ${percent(m.diskFreeRatio)} free ({{ $value | humanizePercentage }}).`,
        },
        {
          // A slow problem: judged over six hours, on a filesystem watched for an hour at least,
          // and only after it held for one, so a burst of writes (or a lab a few minutes old)
          // does not look like a disk filling up.
          alert: 'DiskFillingUp',
          expr: `predict_linear(node_filesystem_avail_bytes{${NOT_DISKS}}[6h], 24 * 3600) < 0 and node_filesystem_avail_bytes{${NOT_DISKS}} / node_filesystem_size_bytes{${NOT_DISKS}} < 0.4 and node_filesystem_readonly == 0 and node_filesystem_avail_bytes{${NOT_DISKS}} offset 1h`,
          forSeconds: Math.max(m.alertAfterSeconds, 3600),
          severity: 'warning',
          summary: '{{ $labels.mountpoint }} on {{ $labels.host }} fills up within a day',
          description: 'At the rate of the last hours it is full in less than 24 hours.',
        },
        {
          // Sustained only: some refusal in every minute of the period (and a period the series
          // covers whole), so a burst (a reachability test, an operator trying a port) is none.
          alert: 'OutgoingTrafficRefused',
          expr: `min_over_time(${refusedEachMinute}[${m.refusedOutputMinutes}m:1m]) == 1 and count_over_time(${refusedEachMinute}[${m.refusedOutputMinutes}m:1m]) >= ${m.refusedOutputMinutes}`,
          // The expression already waited the period out.
          forSeconds: 0,
          severity: 'warning',
          summary: '{{ $labels.host }} keeps sending what its firewall refuses',
          description: `In each of the last ${m.refusedOutputMinutes} minutes {{ $labels.host }} tried to open a connection no flow of the model allows, and its firewall refused it (foobar status counts them): a misconfigured or compromised process, or a flow missing from the model. Its logs (foobar logs) name what failed to connect.`,
        },
      ],
    },
    {
      name: 'load balancers',
      rules: [
        {
          alert: 'HaproxyDown',
          expr: 'up{job="haproxy"} == 0',
          severity: 'critical',
          summary: 'HAProxy on {{ $labels.host }} is down',
          description: 'Its metrics endpoint does not answer: users sent to it get no answer.',
        },
        {
          alert: 'LbBackendDown',
          // About the web server, seen by a load balancer: host is the server, lb the observer.
          expr: 'label_replace(label_replace(haproxy_server_status{state="DOWN"} == 1, "lb", "$1", "host", "(.*)"), "host", "$1", "server", "(.*)")',
          severity: 'warning',
          summary: '{{ $labels.lb }} sees {{ $labels.host }} down',
          description:
            'Its health check fails; the other web servers take its requests. Maintenance and draining are not alerts.',
        },
        {
          alert: 'LbNoHealthyBackend',
          expr: 'haproxy_backend_active_servers{proxy="web"} == 0',
          severity: 'critical',
          summary: '{{ $labels.host }} has no healthy web server',
          description: 'Every request through {{ $labels.host }} fails with 503.',
        },
        {
          alert: 'SiteErrorRatioHigh',
          expr: `${siteErrorRatio(w)} > ${m.errorRatio} and ${siteRequestRate(w)} >= ${m.minRequestsPerSecond}`,
          severity: 'critical',
          summary: 'Users get 5xx errors through {{ $labels.host }}',
          description: `{{ $value | humanizePercentage }} of responses over ${w} are 5xx (threshold ${percent(m.errorRatio)}).`,
        },
      ],
    },
    {
      name: 'web servers',
      rules: [
        {
          alert: 'NginxDown',
          expr: 'nginx_up == 0',
          severity: 'critical',
          summary: 'Nginx on {{ $labels.host }} is down',
          description: 'The exporter cannot read its status page: the load balancers take it out.',
        },
        {
          alert: 'AppDown',
          expr: 'up{job="app"} == 0',
          severity: 'critical',
          summary: 'The app on {{ $labels.host }} is down',
          description:
            'Its /metrics does not answer through Nginx: dynamic pages on {{ $labels.host }} fail.',
        },
        {
          alert: 'AppErrorRatioHigh',
          expr: `${appErrorRatio(w)} > ${m.errorRatio} and ${appRequestRate(w)} >= ${m.minRequestsPerSecond}`,
          severity: 'warning',
          summary: 'The app on {{ $labels.host }} answers with 5xx errors',
          description: `{{ $value | humanizePercentage }} of its responses over ${w} are 5xx (threshold ${percent(m.errorRatio)}); the load balancers retry some elsewhere.`,
        },
        {
          alert: 'LatencyP99High',
          expr: `${appLatency(0.99, w)} > ${m.latencyP99Seconds} and ${appRequestRate(w)} >= ${m.minRequestsPerSecond}`,
          severity: 'warning',
          summary: 'The app on {{ $labels.host }} is slow',
          description: `99% of requests over ${w} took up to {{ $value | humanizeDuration }} (threshold ${m.latencyP99Seconds}s).`,
        },
      ],
    },
    {
      name: 'databases',
      rules: [
        {
          alert: 'MariadbDown',
          expr: 'mysql_up == 0',
          severity: 'critical',
          summary: 'MariaDB on {{ $labels.host }} is down',
          description: 'The exporter cannot connect to it.',
        },
        {
          alert: 'ReplicationStopped',
          expr: 'mysql_slave_status_slave_io_running == 0 or mysql_slave_status_slave_sql_running == 0',
          severity: 'critical',
          summary: 'Replication on {{ $labels.host }} has stopped',
          description:
            'Its IO or SQL thread is not running: it falls behind and cannot be promoted safely.',
        },
        {
          alert: 'ReplicationLagging',
          expr: `mysql_slave_status_seconds_behind_master > ${m.replicationLagSeconds}`,
          severity: 'warning',
          summary: '{{ $labels.host }} is {{ $value }} s behind the primary',
          description: `Reads from it are stale by more than ${m.replicationLagSeconds} s.`,
        },
        {
          alert: 'SemiSyncFellBackToAsync',
          expr: 'mysql_global_variables_rpl_semi_sync_master_enabled == 1 and on (host) mysql_global_status_rpl_semi_sync_master_status == 0',
          severity: 'critical',
          summary: 'The primary {{ $labels.host }} replicates asynchronously',
          description:
            'No replica acknowledged a commit in time: a failover now can lose acknowledged writes.',
        },
        {
          alert: 'PrimaryNotWritable',
          expr: 'count(up{job="mysqld"}) > 0 unless on () count(mysql_global_variables_read_only == 0)',
          severity: 'critical',
          summary: 'No database server accepts writes',
          description: 'Every reachable server is read-only: the guestbook cannot take messages.',
        },
        {
          alert: 'MultiplePrimaries',
          expr: 'count(mysql_global_variables_read_only == 0) > 1',
          severity: 'critical',
          summary: '{{ $value }} database servers accept writes',
          description: 'Only the primary may be writable: writes may diverge (split brain).',
        },
        {
          alert: 'AutomaticFailover',
          // Until the anti-flap period ends, or an operator re-armed after looking (db failover resume).
          expr: `(time() - max(foobar_failover_last_automatic_timestamp_seconds) < ${model.failover.antiFlapSeconds}) and max(foobar_failover_last_automatic_timestamp_seconds) > max(foobar_failover_rearmed_timestamp_seconds or vector(0))`,
          forSeconds: 0,
          severity: 'critical',
          summary: 'The database failed over automatically',
          description:
            'The failover managers promoted a replica (foobar db status, the audit log): bring the old primary back with foobar db rejoin. No other automatic failover happens until the anti-flap period ends or foobar db failover resume (which also resolves this alert).',
        },
        {
          alert: 'FailoverPaused',
          expr: '(max(foobar_failover_armed) or on () vector(0)) == 0',
          severity: 'warning',
          summary: 'Automatic database failover is paused',
          description:
            'No failover manager would act if the primary died (etcd without quorum, an operator pause, anti-flap, or no manager running): foobar db status says why.',
        },
      ],
    },
    {
      name: 'backups',
      rules: [
        {
          alert: 'BackupTooOld',
          // No backup yet counts as the oldest of all (its timestamp is 0).
          expr: `time() - max(foobar_backup_full_last_success_timestamp_seconds) > ${model.backup.fullMaxAgeMinutes * 60}`,
          severity: 'critical',
          summary: 'The newest full backup is too old',
          description: `No full backup finished in the last ${model.backup.fullMaxAgeMinutes} minutes: foobar db backups and foobar logs on the backup host say why; foobar db backup takes one now.`,
        },
        {
          alert: 'BinlogArchiveBehind',
          expr: `time() - max(foobar_backup_binlog_recoverable_timestamp_seconds) > ${model.backup.binlogMaxAgeSeconds}`,
          severity: 'critical',
          summary: 'The archived binary log is behind the primary',
          description: `For over ${model.backup.binlogMaxAgeSeconds} s the archive has not had everything the primary wrote: a restore would lose the writes since (foobar db status shows the newest recoverable moment).`,
        },
      ],
    },
    {
      name: 'probes',
      rules: [
        {
          alert: 'DnsDown',
          expr: `probe_success{job="${PROBE_JOBS.dns.job}"} == 0`,
          severity: 'critical',
          summary: 'The DNS server {{ $labels.host }} does not answer for www.${model.domain}',
          description:
            'No answer, an error, or none of the edge’s virtual addresses among the answers: visitors whose resolver asks it first wait for the other server.',
        },
        {
          alert: 'SiteTlsFails',
          expr: `probe_success{job="${PROBE_JOBS.tls.job}"} == 0`,
          severity: 'critical',
          summary: 'HTTPS through {{ $labels.host }} fails',
          description:
            'The TLS handshake for www.${model.domain} fails (no answer, or a certificate the lab CA did not sign for it): browsers refuse the site.',
        },
        {
          alert: 'VirtualAddressFails',
          expr: `probe_success{job="${PROBE_JOBS.vip.job}"} == 0`,
          severity: 'critical',
          summary:
            'HTTPS through {{ $labels.instance }} ({{ $labels.host }}’s virtual address) fails',
          description:
            'No load balancer answers on an address DNS gives visitors: keepalived holds it nowhere, or where HAProxy is down.',
        },
      ],
    },
    {
      name: 'certificates',
      rules: [
        {
          alert: 'CertificateExpiresSoon',
          expr: `(probe_ssl_earliest_cert_expiry{job="${PROBE_JOBS.tls.job}"} - time()) / 86400 < ${m.certificateWarningDays}`,
          severity: 'warning',
          summary: 'The certificate served by {{ $labels.host }} expires soon',
          description: `It expires in {{ $value | printf "%.1f" }} days (under ${m.certificateWarningDays}).`,
        },
        {
          alert: 'CertificateExpiresVerySoon',
          expr: `(probe_ssl_earliest_cert_expiry{job="${PROBE_JOBS.tls.job}"} - time()) / 86400 < ${m.certificateCriticalDays}`,
          severity: 'critical',
          summary: 'The certificate served by {{ $labels.host }} is about to expire',
          description: `It expires in {{ $value | printf "%.1f" }} days (under ${m.certificateCriticalDays}): renew it now.`,
        },
      ],
    },
  ];
}

export function renderPrometheusRules(model: Model): string {
  const groups = alertGroups(model).map((group) => ({
    name: group.name,
    rules: group.rules.map((rule) => {
      const forSeconds = rule.forSeconds ?? model.monitoring.alertAfterSeconds;
      return {
        alert: rule.alert,
        expr: rule.expr,
        ...(forSeconds > 0 ? { for: `${forSeconds}s` } : {}),
        labels: { severity: rule.severity },
        annotations: { summary: rule.summary, description: rule.description },
      };
    }),
  }));
  return `${renderedHeader('#', 'Prometheus alert rules')}\n${stringify({ groups }, YAML_OPTIONS)}`;
}
