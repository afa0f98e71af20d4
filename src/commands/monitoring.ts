/**
 * Prometheus, Alertmanager and the exporters (Debian packages). Each runs in the foreground as
 * the unprivileged `prometheus` user that the packages create (the daemon's `user`: the platform's
 * supervisor runs it as that user), with every path explicit.
 */
import type { Command } from '../drivers/driver.ts';
import { curl } from './curl.ts';

/** The system user of Debian's Prometheus packages: the monitoring daemons run as it. */
export const MONITORING_USER = 'prometheus';

const run = (argv: readonly string[]): Command => ({ argv });

export const promtool = {
  /** Checks the config and every rule file it names; lint warnings fail it too. */
  checkConfig: (config: string): Command => ({
    argv: ['promtool', 'check', 'config', '--lint=all', '--lint-fatal', config],
  }),
  checkRules: (rules: string): Command => ({
    argv: ['promtool', 'check', 'rules', '--lint=all', '--lint-fatal', rules],
  }),
  /** Unit tests of alert rules: synthetic series in, the alerts that must fire out. */
  testRules: (tests: string): Command => ({ argv: ['promtool', 'test', 'rules', tests] }),
  /** An exporter-toolkit web config (TLS files included: they must load). */
  checkWebConfig: (config: string): Command => ({
    argv: ['promtool', 'check', 'web-config', config],
  }),
};

/** Prometheus's shortest block (and its head's chunk range), in minutes: see the flag. */
export const HEAD_BLOCK_MINUTES = 15;

export const prometheus = {
  start: (options: {
    config: string;
    data: string;
    listen: string;
    retentionHours: number;
  }): Command =>
    run([
      'prometheus',
      `--config.file=${options.config}`,
      `--storage.tsdb.path=${options.data}`,
      `--storage.tsdb.retention.time=${options.retentionHours}h`,
      // The head (in memory, and its chunks mapped from chunks_head/) is cut into a block once
      // it spans 1.5 blocks: 3 h by default, so it grew for the first three hours of every run.
      // 15-minute blocks keep it at 7.5–22.5 minutes of samples; the blocks on disk answer older
      // queries (they merge into 45-minute, then 2 h 15 min ones). A flag Prometheus hides but
      // keeps (2.42 has it).
      `--storage.tsdb.min-block-duration=${HEAD_BLOCK_MINUTES}m`,
      `--web.listen-address=${options.listen}`,
      // POST /-/reload answers once the new config is loaded, or with why not (a signal does
      // not say). It listens on the monitor's loopback only.
      '--web.enable-lifecycle',
    ]),
  /** The lifecycle API's reload: 200 once the new config is in force. */
  reload: (listen: string): Command =>
    curl.request(`http://${listen}/-/reload`, { method: 'POST', timeoutSeconds: 20 }),
};

export const alertmanager = {
  check: (config: string): Command => ({ argv: ['amtool', 'check-config', config] }),
  start: (options: { config: string; data: string; listen: string }): Command =>
    run([
      'prometheus-alertmanager',
      `--config.file=${options.config}`,
      `--storage.path=${options.data}`,
      `--web.listen-address=${options.listen}`,
      // One Alertmanager: no cluster, no gossip port.
      '--cluster.listen-address=',
    ]),
};

/** Host metrics that mean something here; the rest (systemd, hardware sensors, ...) are off. */
const NODE_COLLECTORS = [
  'cpu',
  'filesystem',
  'loadavg',
  'meminfo',
  'netdev',
  'netstat',
  'pressure',
  'stat',
  'time',
  'uname',
  'vmstat',
];

export const nodeExporter = {
  /** `webConfig`: exporter-toolkit's web config (TLS: render/exporters). */
  /** `textfiles`: the directory whose *.prom files it serves too (the firewall's counts). */
  start: (listen: string, webConfig: string, textfiles: string): Command =>
    run([
      'prometheus-node-exporter',
      `--web.listen-address=${listen}`,
      `--web.config.file=${webConfig}`,
      '--collector.disable-defaults',
      ...NODE_COLLECTORS.map((name) => `--collector.${name}`),
      '--collector.textfile',
      `--collector.textfile.directory=${textfiles}`,
    ]),
};

export const nginxExporter = {
  /**
   * Over TLS with `tls`'s certificate (0.11 has no web config: its own flags, read once at
   * start, so a renewed certificate needs a restart).
   */
  start: (
    listen: string,
    statusUrl: string,
    tls: { readonly cert: string; readonly key: string },
  ): Command =>
    run([
      'prometheus-nginx-exporter',
      `-web.listen-address=${listen}`,
      '-web.secured-metrics',
      `-web.ssl-server-cert=${tls.cert}`,
      `-web.ssl-server-key=${tls.key}`,
      `-nginx.scrape-uri=${statusUrl}`,
      // Nginx may start after it: keep trying instead of exiting.
      '-nginx.retries=10',
      '-nginx.retry-interval=1s',
    ]),
};

/** mysqld_exporter 0.14's default collectors that nothing here reads. */
const MYSQLD_UNREAD_COLLECTORS = [
  'info_schema.innodb_cmp',
  'info_schema.innodb_cmpmem',
  'info_schema.query_response_time',
];

export const mysqldExporter = {
  /** `clientConfig`: the [client] login (user, password, socket), so no secret is on its argv. */
  start: (listen: string, clientConfig: string, webConfig: string): Command =>
    run([
      'prometheus-mysqld-exporter',
      `--web.listen-address=${listen}`,
      `--web.config.file=${webConfig}`,
      `--config.my-cnf=${clientConfig}`,
      // The rules and the dashboard read global status, global variables and replica status; the
      // other default collectors (InnoDB compression tables, query response times) are queries on
      // every scrape and series nobody reads.
      ...MYSQLD_UNREAD_COLLECTORS.map((name) => `--no-collect.${name}`),
    ]),
};

export const dashboard = {
  /** Our dashboard's server, on the platform's Node.js with `v8Flags` (run unprivileged). */
  start: (runtime: string, v8Flags: readonly string[], dir: string, config: string): Command => ({
    argv: [runtime, ...v8Flags, `${dir}/server.mjs`, config],
  }),
};

export const blackboxExporter = {
  check: (config: string): Command => ({
    argv: ['prometheus-blackbox-exporter', `--config.file=${config}`, '--config.check'],
  }),
  start: (config: string, listen: string): Command =>
    run([
      'prometheus-blackbox-exporter',
      `--config.file=${config}`,
      `--web.listen-address=${listen}`,
    ]),
};
