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
