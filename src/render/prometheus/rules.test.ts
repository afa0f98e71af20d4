/**
 * The alert rules against synthetic series, with promtool's own rule tests: for each scenario,
 * exactly the listed alerts fire, and no other (so a healthy lab pages nobody).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { promtool } from '../../commands/monitoring.ts';
import { buildModel } from '../../model/build.ts';
import { assertGolden } from '../golden.ts';
import { runChecker } from '../testing.ts';
import { alertGroups, renderPrometheusRules } from './rules.ts';

const model = buildModel(undefined);
const m = model.monitoring;
/** Samples are one scrape interval apart; scenarios are judged after AT seconds. */
const STEP = m.scrapeIntervalSeconds;
const AT = 60;

/** How a scenario samples its series: every `step` seconds, `samples` of them. */
interface Grid {
  readonly step: number;
  readonly samples: number;
}
/** A series' values in promtool's notation, for a grid. */
type Values = (grid: Grid) => string;

/** A timestamp that keeps up with the evaluation clock (a backup agent reporting fresh figures). */
const clock: Values = ({ step, samples }) => `0+${step}x${samples}`;
/** A series that holds `value` the whole time. */
const steady =
  (value: number): Values =>
  ({ samples }) =>
    `${value}x${samples}`;
/** A counter growing by `perSecond`. */
const counter =
  (perSecond: number): Values =>
  ({ step, samples }) =>
    `0+${perSecond * step}x${samples}`;
/** A gauge starting at `start`, changing by `perSecond`. */
const trend =
  (start: number, perSecond: number): Values =>
  ({ step, samples }) =>
    `${start}${perSecond < 0 ? '-' : '+'}${Math.abs(perSecond * step)}x${samples}`;
/** `before` until `at` seconds, then `after`. */
const changes =
  (before: number, at: number, after: number): Values =>
  ({ step, samples }) => {
    const n = Math.round(at / step);
    return `${before}x${n - 1} ${after}x${samples - n}`;
  };

type Labels = Record<string, string>;

interface Scenario {
  readonly title: string;
  readonly series: Readonly<Record<string, Values>>;
  /** The alerts firing at `at` (default AT): their labels, alertname and severity included. */
  readonly firing: readonly Labels[];
  readonly at?: number;
  /** Seconds between samples (default: the scrape interval), for slow problems. */
  readonly step?: number;
  /** When given, exactly these alerts are pending at `at`. */
  readonly pending?: readonly Labels[];
}

const healthyWeb = (host: string): Record<string, Values> => ({
  [`up{job="app",host="${host}"}`]: steady(1),
  [`up{job="nginx",host="${host}"}`]: steady(1),
  [`up{job="node",host="${host}"}`]: steady(1),
  [`nginx_up{job="nginx",host="${host}"}`]: steady(1),
  [`foobar_http_requests_total{job="app",host="${host}",method="GET",route="/",status="200"}`]:
    counter(50),
  [`foobar_http_request_duration_seconds_bucket{job="app",host="${host}",le="0.01"}`]: counter(49),
  [`foobar_http_request_duration_seconds_bucket{job="app",host="${host}",le="0.1"}`]: counter(50),
  [`foobar_http_request_duration_seconds_bucket{job="app",host="${host}",le="1"}`]: counter(50),
  [`foobar_http_request_duration_seconds_bucket{job="app",host="${host}",le="2.5"}`]: counter(50),
  [`foobar_http_request_duration_seconds_bucket{job="app",host="${host}",le="+Inf"}`]: counter(50),
});

const healthyLb = (host: string): Record<string, Values> => ({
  [`up{job="haproxy",host="${host}"}`]: steady(1),
  [`up{job="node",host="${host}"}`]: steady(1),
  [`haproxy_backend_active_servers{job="haproxy",host="${host}",proxy="web"}`]: steady(2),
  [`haproxy_server_status{job="haproxy",host="${host}",proxy="web",server="web-01",state="DOWN"}`]:
    steady(0),
  [`haproxy_frontend_http_requests_total{job="haproxy",host="${host}",proxy="www"}`]: counter(100),
  [`haproxy_frontend_http_responses_total{job="haproxy",host="${host}",proxy="www",code="2xx"}`]:
    counter(100),
  [`haproxy_frontend_http_responses_total{job="haproxy",host="${host}",proxy="www",code="5xx"}`]:
    steady(0),
});

const healthyDb = (host: string, primary: boolean): Record<string, Values> => ({
  [`up{job="mysqld",host="${host}"}`]: steady(1),
  [`up{job="node",host="${host}"}`]: steady(1),
  [`mysql_up{job="mysqld",host="${host}"}`]: steady(1),
  [`mysql_global_variables_read_only{job="mysqld",host="${host}"}`]: steady(primary ? 0 : 1),
  ...(primary
    ? {
        [`mysql_global_variables_rpl_semi_sync_master_enabled{job="mysqld",host="${host}"}`]:
          steady(1),
        [`mysql_global_status_rpl_semi_sync_master_status{job="mysqld",host="${host}"}`]: steady(1),
      }
    : {
        [`mysql_slave_status_slave_io_running{job="mysqld",host="${host}"}`]: steady(1),
        [`mysql_slave_status_slave_sql_running{job="mysqld",host="${host}"}`]: steady(1),
        [`mysql_slave_status_seconds_behind_master{job="mysqld",host="${host}"}`]: steady(0),
      }),
});

const healthyLab = {
  ...healthyWeb('web-01'),
  ...healthyWeb('web-02'),
  ...healthyLb('lb-01'),
  ...healthyDb('db-01', true),
  ...healthyDb('db-02', false),
  // The leading failover manager is armed.
  'foobar_failover_armed{job="failover",host="mon"}': steady(1),
  'foobar_failover_armed{job="failover",host="lb-01"}': steady(0),
  'up{job="prometheus",host="mon"}': steady(1),
  'up{job="alertmanager",host="mon"}': steady(1),
  'node_filesystem_avail_bytes{job="node",host="mon",mountpoint="/",fstype="ext4"}': steady(60e9),
  'node_filesystem_size_bytes{job="node",host="mon",mountpoint="/",fstype="ext4"}': steady(100e9),
  'node_filesystem_readonly{job="node",host="mon",mountpoint="/",fstype="ext4"}': steady(0),
  'probe_ssl_earliest_cert_expiry{job="tls",host="lb-01"}': steady(90 * 86400),
  'probe_success{job="tls",host="lb-01"}': steady(1),
  'probe_success{job="vip",host="lb-01"}': steady(1),
  'probe_success{job="vip",host="lb-02"}': steady(1),
  'probe_success{job="dns",host="dns"}': steady(1),
  'up{job="blackbox",host="mon"}': steady(1),
  [refused('web-01')]: steady(3),
  // The newest backup and the archive's reach, fresh at the evaluation.
  'foobar_backup_full_last_success_timestamp_seconds{job="backup",host="backup"}': clock,
  'foobar_backup_binlog_recoverable_timestamp_seconds{job="backup",host="backup"}': clock,
};

/** The count of what a host's firewall refused to send. */
function refused(host: string): string {
  return `foobar_firewall_packets_total{job="node",host="${host}",counter="output_refused"}`;
}

/** The lab with some series replaced. */
const labWith = (changed: Record<string, Values>): Record<string, Values> => ({
  ...healthyLab,
  ...changed,
});

const critical = (alertname: string, labels: Labels): Labels => ({
  alertname,
  severity: 'critical',
  ...labels,
});
const warning = (alertname: string, labels: Labels): Labels => ({
  alertname,
  severity: 'warning',
  ...labels,
});

const killedAt = 20;
const SCENARIOS: readonly Scenario[] = [
  {
    title: 'no full backup for longer than its limit',
    series: labWith({
      'foobar_backup_full_last_success_timestamp_seconds{job="backup",host="backup"}': steady(
        AT - model.backup.fullMaxAgeMinutes * 60 - 60,
      ),
    }),
    firing: [critical('BackupTooOld', {})],
  },
  {
    title: 'the archived binary log behind for longer than its limit',
    series: labWith({
      'foobar_backup_binlog_recoverable_timestamp_seconds{job="backup",host="backup"}': steady(
        AT - model.backup.binlogMaxAgeSeconds - 60,
      ),
    }),
    firing: [critical('BinlogArchiveBehind', {})],
  },
  { title: 'a healthy lab pages nobody', series: healthyLab, firing: [] },
  {
    title: 'web-01’s app killed: AppDown, and the load balancer sees web-01 down',
    series: labWith({
      'up{job="app",host="web-01"}': changes(1, killedAt, 0),
      'haproxy_server_status{job="haproxy",host="lb-01",proxy="web",server="web-01",state="DOWN"}':
        changes(0, killedAt + STEP, 1),
    }),
    firing: [
      critical('AppDown', { job: 'app', host: 'web-01' }),
      warning('LbBackendDown', {
        job: 'haproxy',
        host: 'web-01',
        lb: 'lb-01',
        proxy: 'web',
        server: 'web-01',
        state: 'DOWN',
      }),
    ],
  },
  {
    title: 'AppDown is only pending until it lasted alertAfterSeconds',
    series: labWith({ 'up{job="app",host="web-01"}': changes(1, killedAt, 0) }),
    at: killedAt + m.alertAfterSeconds - STEP,
    firing: [],
  },
  {
    title: 'AppDown fires once it lasted alertAfterSeconds',
    series: labWith({ 'up{job="app",host="web-01"}': changes(1, killedAt, 0) }),
    at: killedAt + m.alertAfterSeconds,
    firing: [critical('AppDown', { job: 'app', host: 'web-01' })],
  },
  {
    title: 'a host whose every target is down: HostDown, its exporter and its database',
    series: labWith({
      'up{job="mysqld",host="db-02"}': changes(1, killedAt, 0),
      'up{job="node",host="db-02"}': changes(1, killedAt, 0),
    }),
    firing: [
      critical('HostDown', { host: 'db-02' }),
      warning('ExporterDown', { job: 'node', host: 'db-02' }),
      warning('ExporterDown', { job: 'mysqld', host: 'db-02' }),
    ],
  },
  {
    title: 'Nginx and HAProxy down, Alertmanager down',
    series: labWith({
      'nginx_up{job="nginx",host="web-02"}': steady(0),
      'up{job="haproxy",host="lb-01"}': steady(0),
      'up{job="alertmanager",host="mon"}': steady(0),
    }),
    firing: [
      critical('NginxDown', { job: 'nginx', host: 'web-02' }),
      critical('HaproxyDown', { job: 'haproxy', host: 'lb-01' }),
      warning('AlertmanagerDown', { job: 'alertmanager', host: 'mon' }),
    ],
  },
  {
    title: 'no healthy web server behind a load balancer',
    series: labWith({
      'haproxy_backend_active_servers{job="haproxy",host="lb-01",proxy="web"}': steady(0),
    }),
    firing: [critical('LbNoHealthyBackend', { job: 'haproxy', host: 'lb-01', proxy: 'web' })],
  },
  {
    title: '5xx errors through a load balancer and from an app',
    series: labWith({
      'haproxy_frontend_http_responses_total{job="haproxy",host="lb-01",proxy="www",code="5xx"}':
        counter(100),
      'foobar_http_requests_total{job="app",host="web-02",method="GET",route="/",status="500"}':
        counter(10),
    }),
    firing: [
      critical('SiteErrorRatioHigh', { host: 'lb-01' }),
      warning('AppErrorRatioHigh', { host: 'web-02' }),
    ],
  },
  {
    // Seen in the deploy tests: a broken release answered a few checks with 500, nobody else asked.
    title: 'a few 5xx on an idle site page nobody',
    series: labWith({
      'foobar_http_requests_total{job="app",host="web-01",method="GET",route="/",status="200"}':
        counter(0.2),
      'foobar_http_requests_total{job="app",host="web-01",method="GET",route="/",status="500"}':
        counter(0.1),
    }),
    firing: [],
  },
  {
    title: 'a draining app answering its health checks with 503 pages nobody',
    series: labWith({
      'foobar_http_requests_total{job="app",host="web-02",method="GET",route="/readyz",status="503"}':
        counter(20),
    }),
    firing: [],
  },
  {
    title: 'a slow app: most requests take over a second',
    series: labWith({
      'foobar_http_request_duration_seconds_bucket{job="app",host="web-02",le="0.01"}': counter(10),
      'foobar_http_request_duration_seconds_bucket{job="app",host="web-02",le="0.1"}': counter(10),
      'foobar_http_request_duration_seconds_bucket{job="app",host="web-02",le="1"}': counter(10),
    }),
    firing: [warning('LatencyP99High', { host: 'web-02' })],
  },
  {
    title: 'replication stopped on one replica, lagging on another',
    series: labWith({
      ...healthyDb('db-03', false),
      'mysql_slave_status_slave_sql_running{job="mysqld",host="db-02"}': steady(0),
      'mysql_slave_status_seconds_behind_master{job="mysqld",host="db-03"}': steady(
        m.replicationLagSeconds + 10,
      ),
    }),
    firing: [
      critical('ReplicationStopped', { job: 'mysqld', host: 'db-02' }),
      warning('ReplicationLagging', { job: 'mysqld', host: 'db-03' }),
    ],
  },
  {
    title: 'MariaDB down on a replica while its exporter runs',
    series: labWith({ 'mysql_up{job="mysqld",host="db-02"}': steady(0) }),
    firing: [critical('MariadbDown', { job: 'mysqld', host: 'db-02' })],
  },
  {
    title: 'semi-sync fell back to asynchronous replication',
    series: labWith({
      'mysql_global_status_rpl_semi_sync_master_status{job="mysqld",host="db-01"}': steady(0),
    }),
    firing: [critical('SemiSyncFellBackToAsync', { job: 'mysqld', host: 'db-01' })],
  },
  {
    title: 'the primary went read-only',
    series: labWith({ 'mysql_global_variables_read_only{job="mysqld",host="db-01"}': steady(1) }),
    firing: [critical('PrimaryNotWritable', {})],
  },
  {
    title: 'two writable servers',
    series: labWith({ 'mysql_global_variables_read_only{job="mysqld",host="db-02"}': steady(0) }),
    firing: [critical('MultiplePrimaries', {})],
  },
  {
    title: 'an automatic failover just happened',
    series: labWith({
      'foobar_failover_last_automatic_timestamp_seconds{job="failover",host="mon"}': steady(
        AT - 10,
      ),
    }),
    firing: [critical('AutomaticFailover', {})],
  },
  {
    title: 'automatic failover paused (no manager armed)',
    series: labWith({ 'foobar_failover_armed{job="failover",host="mon"}': steady(0) }),
    firing: [warning('FailoverPaused', {})],
  },
  {
    title: 'a disk almost full',
    series: labWith({
      'node_filesystem_avail_bytes{job="node",host="mon",mountpoint="/",fstype="ext4"}': steady(
        m.diskFreeRatio * 0.5 * 100e9,
      ),
    }),
    firing: [
      critical('DiskAlmostFull', { job: 'node', host: 'mon', mountpoint: '/', fstype: 'ext4' }),
    ],
  },
  {
    title: 'a disk filling up steadily, watched for over two hours, full within a day',
    step: 60,
    at: 2.5 * 3600,
    series: labWith({
      'node_filesystem_avail_bytes{job="node",host="db-01",mountpoint="/",fstype="ext4"}': trend(
        30e9,
        -1e6,
      ),
      'node_filesystem_size_bytes{job="node",host="db-01",mountpoint="/",fstype="ext4"}':
        steady(100e9),
      'node_filesystem_readonly{job="node",host="db-01",mountpoint="/",fstype="ext4"}': steady(0),
    }),
    firing: [
      warning('DiskFillingUp', { job: 'node', host: 'db-01', mountpoint: '/', fstype: 'ext4' }),
    ],
  },
  {
    title: 'a web server refused in every minute for refusedOutputMinutes: OutgoingTrafficRefused',
    step: 30,
    at: (m.refusedOutputMinutes + 3) * 60,
    series: labWith({ [refused('web-01')]: counter(0.2) }),
    firing: [
      warning('OutgoingTrafficRefused', { job: 'node', host: 'web-01', counter: 'output_refused' }),
    ],
  },
  {
    title: 'a burst of refusals (a reachability test) warns nobody, not even pending',
    step: 30,
    at: (m.refusedOutputMinutes + 3) * 60,
    series: labWith({ [refused('web-01')]: changes(3, 5 * 60, 40) }),
    firing: [],
    pending: [],
  },
  {
    title: 'refusals since a host came up, for less than refusedOutputMinutes, warn nobody yet',
    step: 30,
    at: (m.refusedOutputMinutes - 2) * 60,
    series: labWith({ [refused('web-01')]: counter(0.2) }),
    firing: [],
    pending: [],
  },
  {
    title: 'a disk watched for under an hour is not judged yet, however fast it fills',
    step: 60,
    at: 50 * 60,
    series: labWith({
      'node_filesystem_avail_bytes{job="node",host="db-01",mountpoint="/",fstype="ext4"}': trend(
        30e9,
        -5e6,
      ),
      'node_filesystem_size_bytes{job="node",host="db-01",mountpoint="/",fstype="ext4"}':
        steady(100e9),
      'node_filesystem_readonly{job="node",host="db-01",mountpoint="/",fstype="ext4"}': steady(0),
    }),
    firing: [],
    pending: [],
  },
  {
    // Seen on this machine: a young lab, then someone's build writes 2 GB at once.
    title: 'a burst of writes on a young lab warns nobody',
    step: 60,
    at: 2 * 3600,
    series: labWith({
      'node_filesystem_avail_bytes{job="node",host="db-01",mountpoint="/",fstype="ext4"}': () =>
        `30e9x4 28e9x${2 * 60 - 3}`,
      'node_filesystem_size_bytes{job="node",host="db-01",mountpoint="/",fstype="ext4"}':
        steady(100e9),
      'node_filesystem_readonly{job="node",host="db-01",mountpoint="/",fstype="ext4"}': steady(0),
    }),
    firing: [],
  },
  {
    title:
      'a DNS server gives no virtual address, HTTPS fails through a load balancer and a virtual address, the prober is down',
    series: labWith({
      'probe_success{job="dns",host="dns"}': steady(0),
      'probe_success{job="tls",host="lb-01"}': steady(0),
      'probe_success{job="vip",host="lb-02"}': steady(0),
      'up{job="blackbox",host="mon"}': steady(0),
    }),
    firing: [
      critical('DnsDown', { job: 'dns', host: 'dns' }),
      critical('SiteTlsFails', { job: 'tls', host: 'lb-01' }),
      critical('VirtualAddressFails', { job: 'vip', host: 'lb-02' }),
      warning('ExporterDown', { job: 'blackbox', host: 'mon' }),
    ],
  },
  {
    title: 'certificates expiring in under 20 days, and in under 3',
    series: labWith({
      'probe_ssl_earliest_cert_expiry{job="tls",host="lb-01"}': steady(
        (m.certificateWarningDays - 1) * 86400,
      ),
      'probe_ssl_earliest_cert_expiry{job="tls",host="lb-02"}': steady(
        (m.certificateCriticalDays - 1) * 86400,
      ),
    }),
    firing: [
      warning('CertificateExpiresSoon', { job: 'tls', host: 'lb-01' }),
      warning('CertificateExpiresSoon', { job: 'tls', host: 'lb-02' }),
      critical('CertificateExpiresVerySoon', { job: 'tls', host: 'lb-02' }),
    ],
  },
];

function labelText(labels: Labels): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(', ');
}

describe('alert rules', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-rules-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('matches the golden file for the default lab', () => {
    assertGolden(
      path.join(import.meta.dirname, '__golden__', 'prometheus-rules.yml'),
      renderPrometheusRules(model),
    );
  });

  it('is accepted by promtool check rules, lint included', async () => {
    const file = path.join(dir, 'rules.yml');
    writeFileSync(file, renderPrometheusRules(model));
    const result = await runChecker(promtool.checkRules(file));
    assert.equal(result.exitCode, 0, result.stderr + result.stdout);
  });

  it('has a scenario that fires every alert', () => {
    const fired = new Set(SCENARIOS.flatMap((s) => s.firing.map((labels) => labels.alertname)));
    const all = alertGroups(model).flatMap((group) => group.rules.map((rule) => rule.alert));
    assert.deepEqual(
      all.filter((name) => !fired.has(name)),
      [],
    );
  });

  for (const scenario of SCENARIOS) {
    it(scenario.title, async () => {
      const step = scenario.step ?? STEP;
      const at = scenario.at ?? AT;
      writeFileSync(path.join(dir, 'rules.yml'), renderPrometheusRules(model));
      const tests = {
        rule_files: ['rules.yml'],
        evaluation_interval: `${Math.max(step, m.evaluationIntervalSeconds)}s`,
        tests: [
          {
            interval: `${step}s`,
            input_series: Object.entries(scenario.series).map(([series, values]) => ({
              series,
              values: values({ step, samples: Math.ceil(at / step) + 1 }),
            })),
            promql_expr_test: (
              [
                ['firing', scenario.firing],
                ['pending', scenario.pending],
              ] as const
            ).flatMap(([state, alerts]) =>
              alerts === undefined
                ? []
                : [
                    {
                      expr: `ALERTS{alertstate="${state}"}`,
                      eval_time: `${at}s`,
                      exp_samples: alerts.map((labels) => ({
                        labels: `ALERTS{${labelText({ ...labels, alertstate: state })}}`,
                        value: 1,
                      })),
                    },
                  ],
            ),
          },
        ],
      };
      const file = path.join(dir, `${scenario.title.replace(/\W+/g, '-')}.yml`);
      writeFileSync(file, stringify(tests));
      const result = await runChecker(promtool.testRules(file));
      assert.equal(result.exitCode, 0, result.stdout + result.stderr);
    });
  }
});
