/**
 * Alertmanager on the monitoring host: groups the alerts Prometheus sends and delivers them. In
 * the lab the receiver is a webhook of the dashboard, which appends every notification to the
 * monitor's alert log (tests read it; `foobar logs mon dashboard` shows it).
 */
import path from 'node:path';
import { stringify } from 'yaml';
import type { HostPaths } from '../../model/layout.ts';
import type { Host, Model } from '../../model/model.ts';
import { ALERT_WEBHOOK_PATH } from '../../dashboard/config.ts';
import { renderedHeader } from '../header.ts';
import { YAML_OPTIONS } from '../yaml.ts';

export function alertmanagerFiles(paths: HostPaths): {
  config: string;
  data: string;
  pid: string;
  log: string;
} {
  return {
    config: path.join(paths.etc, 'alertmanager.yml'),
    data: path.join(paths.data, 'alertmanager'),
    pid: path.join(paths.run, 'alertmanager.pid'),
    log: path.join(paths.log, 'alertmanager.log'),
  };
}

/** One alert silences another while both fire on the same host: the cause, not its echoes. */
const INHIBITIONS = [
  // A host down explains everything else on it.
  { source: 'HostDown', target: 'alertname!="HostDown"' },
  // The app's metrics come through Nginx.
  { source: 'NginxDown', target: 'alertname="AppDown"' },
  // One notice per certificate.
  { source: 'CertificateExpiresVerySoon', target: 'alertname="CertificateExpiresSoon"' },
] as const;

export function renderAlertmanagerConfig(model: Model, host: Host): string {
  const m = model.monitoring;
  const config = {
    route: {
      receiver: 'alert-log',
      group_by: ['alertname', 'host'],
      // The first notice of a problem goes out one evaluation after it fires.
      group_wait: `${m.evaluationIntervalSeconds}s`,
      group_interval: `${5 * m.evaluationIntervalSeconds}s`,
      repeat_interval: '4h',
    },
    receivers: [
      {
        name: 'alert-log',
        webhook_configs: [
          {
            url: `http://127.0.0.1:${model.ports.dashboard}${ALERT_WEBHOOK_PATH}`,
            send_resolved: true,
          },
        ],
      },
    ],
    inhibit_rules: INHIBITIONS.map((rule) => ({
      source_matchers: [`alertname="${rule.source}"`],
      target_matchers: [rule.target],
      equal: ['host'],
    })),
  };
  return `${renderedHeader('#', `Alertmanager for ${host.name}`)}\n${stringify(config, YAML_OPTIONS)}`;
}
