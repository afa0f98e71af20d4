import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { promtool } from '../../commands/monitoring.ts';
import { transitFiles } from '../../model/transit.ts';
import { fixture, runChecker, scratchFixture, selfSignedCertificate } from '../testing.ts';
import { exporterWebConfigFile, renderExporterWebConfig } from './index.ts';

describe('renderExporterWebConfig', () => {
  it('serves TLS 1.3 only with the host’s exporters’ certificate', () => {
    const { paths } = fixture('db-01');
    const text = renderExporterWebConfig(paths);
    const files = transitFiles(paths, 'exporters');
    assert.match(text, new RegExp(`^  cert_file: ${files.cert}$`, 'm'));
    assert.match(text, new RegExp(`^  key_file: ${files.key}$`, 'm'));
    assert.match(text, /^ {2}min_version: TLS13$/m);
  });

  it('is accepted by promtool check web-config, its certificate and key loaded', async () => {
    const lab = scratchFixture('db-01');
    try {
      const files = transitFiles(lab.paths, 'exporters');
      await selfSignedCertificate(files, 'db-01.core.foobar.com');
      const config = exporterWebConfigFile(lab.paths, 'node-exporter');
      writeFileSync(config, renderExporterWebConfig(lab.paths));
      const result = await runChecker(promtool.checkWebConfig(config));
      assert.equal(result.exitCode, 0, result.stderr + result.stdout);
      // Without its key the checker refuses it: the check reads the files.
      writeFileSync(files.key, '');
      const broken = await runChecker(promtool.checkWebConfig(config));
      assert.notEqual(broken.exitCode, 0);
    } finally {
      lab.dispose();
    }
  });
});
