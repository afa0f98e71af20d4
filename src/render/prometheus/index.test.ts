import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { trustedCa } from '../../model/transit.ts';
import { promtool } from '../../commands/monitoring.ts';
import { assertGolden } from '../golden.ts';
import { fixture, runChecker, scratchFixture } from '../testing.ts';
import { renderDashboardConfig } from '../dashboard/index.ts';
import {
  MYSQL_VARIABLES_READ,
  prometheusFiles,
  renderPrometheusConfig,
  UNREAD_SERIES,
} from './index.ts';
import { renderPrometheusRules } from './rules.ts';

const golden = (name: string): string => path.join(import.meta.dirname, '__golden__', name);

describe('renderPrometheusConfig', () => {
  it('matches the golden file for the default lab', () => {
    const { model, host, paths } = fixture('mon');
    assertGolden(golden('prometheus.yml'), renderPrometheusConfig(model, host, paths));
  });

  it('scrapes every web server of the model, three with a third one', () => {
    const { model, host, paths } = fixture('mon', {
      hosts: { 'web-03': { roles: ['web'], core: 23 } },
    });
    const config = parse(renderPrometheusConfig(model, host, paths)) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const app = config.scrape_configs.filter((c) => c.job_name.startsWith('app/'));
    assert.deepEqual(
      app.map((c) => `${c.job_name} ${c.static_configs.flatMap((s) => s.targets).join(' ')}`),
      ['app/web-01 10.77.2.21:9180', 'app/web-02 10.77.2.22:9180', 'app/web-03 10.77.2.23:9180'],
    );
  });

  it('scrapes every exporter over TLS, verified by its host’s name against the lab CA', () => {
    const { model, host, paths } = fixture('mon');
    const config = parse(renderPrometheusConfig(model, host, paths)) as {
      scrape_configs: {
        job_name: string;
        scheme?: string;
        tls_config?: { ca_file: string; server_name: string };
        static_configs: { labels: { host: string } }[];
      }[];
    };
    const remote = config.scrape_configs.filter((c) => c.job_name.includes('/'));
    assert.ok(remote.length > 10);
    for (const c of remote) {
      const on = c.static_configs.map((s) => s.labels.host).join(',');
      assert.equal(c.scheme, 'https', c.job_name);
      assert.ok(c.tls_config !== undefined, c.job_name);
      assert.equal(c.tls_config.ca_file, trustedCa(paths), c.job_name);
      assert.match(c.tls_config.server_name, new RegExp(`^${on}\\.(core|edge)\\.`));
    }
    const plain = config.scrape_configs.filter((c) => c.scheme !== 'https').map((c) => c.job_name);
    // Only the monitor's own daemons on its loopback, and the blackbox probes (which do their
    // own TLS), stay plain.
    assert.deepEqual(plain, ['prometheus', 'alertmanager', 'blackbox', 'dns', 'tls', 'vip']);
  });

  it('drops no series that a rule or the dashboard reads', () => {
    const { model, host, paths } = fixture('mon');
    const read = `${renderPrometheusRules(model)}\n${renderDashboardConfig(model, host, paths, 'x')}`;
    // Every name-like word of the rules' and the dashboard's queries (label names too: harmless).
    const names = new Set(read.match(/\b[a-z][a-z0-9]*_[a-z0-9_]+\b/g));
    assert.ok(names.has('mysql_global_variables_read_only') && names.has('probe_success'));
    const unread = new RegExp(`^(?:${UNREAD_SERIES})$`);
    const variables = MYSQL_VARIABLES_READ.map((v) => `mysql_global_variables_${v}`);
    for (const name of names) {
      assert.ok(!unread.test(name), `${name} is read but dropped`);
      if (name.startsWith('mysql_global_variables_'))
        assert.ok(variables.includes(name), `${name} is read but dropped`);
    }
  });

  it('is accepted by promtool check config, rules included', async () => {
    const lab = scratchFixture('mon');
    try {
      const files = prometheusFiles(lab.paths);
      mkdirSync(lab.paths.etc, { recursive: true });
      writeFileSync(files.config, renderPrometheusConfig(lab.model, lab.host, lab.paths));
      writeFileSync(files.rules, renderPrometheusRules(lab.model));
      const result = await runChecker(promtool.checkConfig(files.config));
      assert.equal(result.exitCode, 0, result.stderr + result.stdout);
      assert.match(result.stdout, /SUCCESS: \d+ rules found/);
    } finally {
      lab.dispose();
    }
  });

  it('scrapes the same targets without the rules for up’s early start, and promtool accepts it', async () => {
    const lab = scratchFixture('mon');
    try {
      const full = parse(renderPrometheusConfig(lab.model, lab.host, lab.paths)) as {
        rule_files: string[];
        scrape_configs: unknown[];
      };
      const text = renderPrometheusConfig(lab.model, lab.host, lab.paths, { rules: false });
      const early = parse(text) as typeof full;
      assert.deepEqual(early.rule_files, []);
      assert.deepEqual(full.rule_files, [prometheusFiles(lab.paths).rules]);
      // The same jobs: the reload that adds the rules leaves every scrape as it is.
      assert.deepEqual(early.scrape_configs, full.scrape_configs);
      const files = prometheusFiles(lab.paths);
      mkdirSync(lab.paths.etc, { recursive: true });
      writeFileSync(files.config, text);
      const result = await runChecker(promtool.checkConfig(files.config));
      assert.equal(result.exitCode, 0, result.stderr + result.stdout);
    } finally {
      lab.dispose();
    }
  });
});
