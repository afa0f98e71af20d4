import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promtool } from '../../commands/monitoring.ts';
import { assertGolden } from '../golden.ts';
import { fixture, runChecker, scratchFixture } from '../testing.ts';
import { prometheusFiles, renderPrometheusConfig } from './index.ts';
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
    const text = renderPrometheusConfig(model, host, paths);
    const app = text.slice(text.indexOf('job_name: app'), text.indexOf('job_name: mysqld'));
    assert.deepEqual(
      [...app.matchAll(/- (10\.77\.2\.\d+:\d+)/g)].map((m) => m[1]),
      ['10.77.2.21:9180', '10.77.2.22:9180', '10.77.2.23:9180'],
    );
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
});
