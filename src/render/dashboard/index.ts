/**
 * The dashboard's settings: where it listens, who may open it, and what the page shows (every
 * host and service of the model, the charts and their PromQL). One JSON file, read by the
 * dashboard's server, which hands the page its part.
 */
import path from 'node:path';
import type { Chart, PageHost, ServerConfig, ServiceCheck, Tier } from '../../dashboard/config.ts';
import type { HostPaths } from '../../model/layout.ts';
import { addressOf, type Host, type Model, type Role } from '../../model/model.ts';
import { firewallCountsStaleSeconds, jobsOn, PROBE_JOBS } from '../../model/monitoring.ts';
import { FIREWALL_COUNTS_TIME_METRIC } from '../../commands/nft.ts';
import { isFailoverMember } from '../../model/failover.ts';
import {
  appErrorRatio,
  appLatency,
  appRequestRate,
  siteErrorRatio,
} from '../prometheus/queries.ts';

export function dashboardFiles(paths: HostPaths): {
  config: string;
  /** The installed build: server.mjs, static/, manifest.json. */
  dir: string;
  pid: string;
  log: string;
  alertLog: string;
} {
  return {
    config: path.join(paths.etc, 'dashboard.json'),
    dir: path.join(paths.root, 'dashboard'),
    pid: path.join(paths.run, 'dashboard.pid'),
    log: path.join(paths.log, 'dashboard.log'),
    alertLog: path.join(paths.log, 'alerts.log'),
  };
}

/** How the page tells each service's health: one series per host, 1 when healthy. */
export const serviceChecks = (model: Model): readonly ServiceCheck[] => [
  { service: 'haproxy', expr: 'up{job="haproxy"}' },
  { service: 'nginx', expr: 'nginx_up' },
  { service: 'app', expr: 'up{job="app"}' },
  { service: 'mariadb', expr: 'mysql_up' },
  { service: 'mysqld-exporter', expr: 'up{job="mysqld"}' },
  { service: 'nginx-exporter', expr: 'up{job="nginx"}' },
  { service: 'node-exporter', expr: 'up{job="node"}' },
  // Served by the node exporter: healthy while its time of reading is fresh.
  {
    service: 'firewall-counts',
    expr: `time() - ${FIREWALL_COUNTS_TIME_METRIC} < bool ${firewallCountsStaleSeconds(model)}`,
  },
  { service: 'prometheus', expr: 'up{job="prometheus"}' },
  { service: 'alertmanager', expr: 'up{job="alertmanager"}' },
  { service: 'blackbox-exporter', expr: 'up{job="blackbox"}' },
  // NSD exports no metrics: the prober asks it for the site's name, as a visitor's resolver would.
  { service: 'nsd', expr: `probe_success{job="${PROBE_JOBS.dns.job}"}` },
  // keepalived exports no metrics: the address a load balancer owns answers HTTPS (wherever VRRP put it).
  { service: 'keepalived', expr: `probe_success{job="${PROBE_JOBS.vip.job}"}` },
  { service: 'dashboard', expr: null },
  { service: 'failover-manager', expr: 'up{job="failover"}' },
  // etcd exports through the manager beside it: 1 while that manager reaches a quorum.
  { service: 'etcd', expr: 'foobar_failover_etcd_ok' },
  { service: 'backup-agent', expr: 'up{job="backup"}' },
];

/** The services each role runs (foobar's daemons), in the order they are shown. */
const ROLE_SERVICES: Readonly<Record<Role, readonly string[]>> = {
  client: [],
  dns: ['nsd'],
  lb: ['haproxy', 'keepalived'],
  web: ['nginx', 'app', 'nginx-exporter'],
  db: ['mariadb', 'mysqld-exporter'],
  mon: ['prometheus', 'alertmanager', 'blackbox-exporter', 'dashboard'],
  backup: ['backup-agent'],
};

const ROLE_TIERS: Readonly<Record<Role, Tier>> = {
  client: 'internet',
  dns: 'edge',
  lb: 'edge',
  web: 'web',
  db: 'database',
  mon: 'monitoring',
  backup: 'database',
};

function pageHost(host: Host): PageHost {
  const services = [
    ...host.roles.flatMap((role) => ROLE_SERVICES[role]),
    ...(jobsOn(host).some((job) => job.job === 'node') ? ['node-exporter', 'firewall-counts'] : []),
    ...(isFailoverMember(host) ? ['etcd', 'failover-manager'] : []),
  ];
  return {
    name: host.name,
    roles: host.roles,
    addresses: { ...host.addresses },
    tier: ROLE_TIERS[host.roles[0] ?? 'client'],
    services: [...new Set(services)],
    monitored: jobsOn(host).length > 0,
  };
}

function charts(model: Model): Chart[] {
  const m = model.monitoring;
  const w = `${m.rateWindowSeconds}s`;
  return [
    {
      id: 'requests',
      title: 'Requests per second, per web server',
      unit: 'perSecond',
      queries: [{ expr: appRequestRate(w), legend: '{{host}}' }],
      empty: 'no web server reports requests',
    },
    {
      id: 'errors',
      title: 'Error ratio (5xx), per web server',
      unit: 'ratio',
      queries: [{ expr: appErrorRatio(w), legend: '{{host}}' }],
      threshold: m.errorRatio,
      empty: 'no requests yet',
    },
    {
      id: 'latency',
      title: 'Latency p50 and p99, per web server',
      unit: 'seconds',
      queries: [
        { expr: appLatency(0.5, w), legend: '{{host}} p50' },
        { expr: appLatency(0.99, w), legend: '{{host}} p99' },
      ],
      threshold: m.latencyP99Seconds,
      empty: 'no requests yet',
    },
    {
      id: 'replication',
      title: 'Replication lag, per replica',
      unit: 'seconds',
      queries: [{ expr: 'mysql_slave_status_seconds_behind_master', legend: '{{host}}' }],
      threshold: m.replicationLagSeconds,
      empty: 'no replica reports replication',
    },
    {
      id: 'site-errors',
      title: 'Error ratio (5xx) users get, per load balancer',
      unit: 'ratio',
      queries: [{ expr: siteErrorRatio(w), legend: '{{host}}' }],
      threshold: m.errorRatio,
      empty: 'no requests yet',
    },
  ];
}

export function renderDashboardConfig(
  model: Model,
  host: Host,
  paths: HostPaths,
  build: string,
): string {
  const files = dashboardFiles(paths);
  const m = model.monitoring;
  const config: ServerConfig = {
    listen: { host: addressOf(host, 'edge'), port: model.ports.dashboard },
    webhook: { host: '127.0.0.1', port: model.ports.dashboard },
    allow: [model.admin.edge],
    prometheus: `http://127.0.0.1:${model.ports.prometheus}`,
    alertLog: files.alertLog,
    static: path.join(files.dir, 'static'),
    build,
    page: {
      title: `www.${model.domain}`,
      lab: model.lab.name,
      refreshSeconds: m.scrapeIntervalSeconds,
      rangeSeconds: 300,
      stepSeconds: m.scrapeIntervalSeconds,
      hosts: model.hosts.map(pageHost),
      checks: serviceChecks(model),
      charts: charts(model),
    },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}
