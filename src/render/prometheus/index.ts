/** Prometheus on the monitoring host: what to scrape, how often, and where alerts go. */
import path from 'node:path';
import { stringify } from 'yaml';
import type { HostPaths } from '../../model/layout.ts';
import type { Host, Model } from '../../model/model.ts';
import {
  LOCAL_JOBS,
  PROBE_JOBS,
  probeTargets,
  SCRAPE_JOBS,
  scrapeTargets,
} from '../../model/monitoring.ts';
import { trustedCa } from '../../model/transit.ts';
import { renderedHeader } from '../header.ts';
import { YAML_OPTIONS } from '../yaml.ts';

export function prometheusFiles(paths: HostPaths): {
  config: string;
  rules: string;
  data: string;
  pid: string;
  log: string;
} {
  return {
    config: path.join(paths.etc, 'prometheus.yml'),
    rules: path.join(paths.etc, 'prometheus-rules.yml'),
    data: path.join(paths.data, 'prometheus'),
    pid: path.join(paths.run, 'prometheus.pid'),
    log: path.join(paths.log, 'prometheus.log'),
  };
}

const seconds = (n: number): string => `${n}s`;

/**
 * Series that no rule, dashboard panel or command reads, dropped as they are scraped so that the
 * TSDB head never holds them: the runtimes' internals (Go's and Node.js's, the exporters' HTTP
 * handlers' and Prometheus's dialers') and the node exporters' timing of their collectors.
 * Together with MariaDB's configuration values below, most of some 2,500 of the default lab's
 * 7,700 series. `up` and the scrape's own series are added after this and stay. Each daemon's
 * `process_*` (its resident memory, CPU, open files, start time) stays though nothing of ours
 * reads it yet: it is what an operator looks at first when a daemon grows or restarts, for some
 * 200 series.
 */
export const UNREAD_SERIES = '(go|promhttp|net_conntrack|nodejs)_.+|node_scrape_collector_.+';

/** The MariaDB settings the rules read; the exporter's other `mysql_global_variables_*` are dropped. */
export const MYSQL_VARIABLES_READ = ['read_only', 'rpl_semi_sync_master_enabled'] as const;

const VARIABLES = 'mysql_global_variables_';

/** metric_relabel_configs of every scrape: drops what UNREAD_SERIES names; for the MariaDB exporter also its unread settings. */
function dropUnread(job: string): object[] {
  const unread: object[] = [{ source_labels: ['__name__'], regex: UNREAD_SERIES, action: 'drop' }];
  if (job !== 'mysqld') return unread;
  // RE2 has no negative lookahead: mark what is read, drop the rest of the settings, unmark.
  return [
    ...unread,
    {
      source_labels: ['__name__'],
      regex: `${VARIABLES}(${MYSQL_VARIABLES_READ.join('|')})`,
      target_label: '__tmp_read',
      replacement: 'yes',
    },
    { source_labels: ['__name__', '__tmp_read'], regex: `${VARIABLES}.+;`, action: 'drop' },
    { regex: '__tmp_read', action: 'labeldrop' },
  ];
}

function staticTarget(address: string, host: string): { targets: string[]; labels: object } {
  return { targets: [address], labels: { host } };
}

export interface PrometheusConfigOptions {
  /**
   * With its alert rules (default). Without them it only scrapes: `up` starts it so while the
   * site comes up (its first scrapes come seconds after a start), and adds the rules once every
   * daemon runs, so that nothing it saw starting raises an alert.
   */
  readonly rules?: boolean;
}

export function renderPrometheusConfig(
  model: Model,
  host: Host,
  paths: HostPaths,
  options: PrometheusConfigOptions = {},
): string {
  const rules = options.rules ?? true;
  const files = prometheusFiles(paths);
  const m = model.monitoring;
  const local = (port: number): string => `127.0.0.1:${port}`;
  const config = {
    global: {
      scrape_interval: seconds(m.scrapeIntervalSeconds),
      scrape_timeout: seconds(m.scrapeIntervalSeconds),
      evaluation_interval: seconds(m.evaluationIntervalSeconds),
      external_labels: { lab: model.lab.name },
    },
    rule_files: rules ? [files.rules] : [],
    alerting: {
      alertmanagers: [{ static_configs: [{ targets: [local(model.ports.alertmanager)] }] }],
    },
    scrape_configs: [
      ...LOCAL_JOBS.map((job) => ({
        job_name: job.job,
        static_configs: [staticTarget(local(model.ports[job.port]), host.name)],
        metric_relabel_configs: dropUnread(job.job),
      })),
      // One scrape config per target of an exporter, each over TLS verified by its host's name
      // (a scrape config has one server_name); the job label is the exporter's, as before.
      ...SCRAPE_JOBS.flatMap((job) =>
        scrapeTargets(model, job).map((t) => ({
          job_name: `${job.job}/${t.host}`,
          scheme: 'https',
          tls_config: {
            ca_file: trustedCa(paths),
            server_name: t.serverName,
            min_version: 'TLS13',
          },
          static_configs: [staticTarget(t.address, t.host)],
          relabel_configs: [{ target_label: 'job', replacement: job.job }],
          metric_relabel_configs: dropUnread(job.job),
        })),
      ),
      // Probes: each target is what the blackbox exporter on this host connects to.
      ...Object.values(PROBE_JOBS)
        .map((probe) => ({
          job: probe.job,
          targets: probeTargets(model, probe).map((t) => staticTarget(t.address, t.host)),
        }))
        .filter((probe) => probe.targets.length > 0)
        .map((probe) => ({
          job_name: probe.job,
          metrics_path: '/probe',
          params: { module: [probe.job] },
          static_configs: probe.targets,
          relabel_configs: [
            { source_labels: ['__address__'], target_label: '__param_target' },
            { source_labels: ['__param_target'], target_label: 'instance' },
            { target_label: '__address__', replacement: local(model.ports.blackboxExporter) },
          ],
        })),
    ],
  };
  const title = `Prometheus for ${host.name}${rules ? '' : ' (scraping only: foobar up adds the alert rules once every daemon runs)'}`;
  return `${renderedHeader('#', title)}\n${stringify(config, YAML_OPTIONS)}`;
}
