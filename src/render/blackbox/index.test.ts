import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { blackboxExporter } from '../../commands/monitoring.ts';
import { assertGolden } from '../golden.ts';
import { fixture, runChecker, scratchFixture } from '../testing.ts';
import { blackboxFiles, renderBlackboxConfig } from './index.ts';

describe('renderBlackboxConfig', () => {
  it('matches the golden file for the default lab', () => {
    const { model, host, paths } = fixture('mon');
    assertGolden(
      path.join(import.meta.dirname, '__golden__', 'blackbox.yml'),
      renderBlackboxConfig(model, host, paths),
    );
  });

  it('wants a virtual address of the model in the DNS answer, a third one too', () => {
    const { model, host, paths } = fixture('mon', {
      hosts: { 'lb-03': { roles: ['lb'], edge: 13, core: 13 } },
      vrrp: { virtualAddresses: { 'lb-03': 30 } },
    });
    const text = renderBlackboxConfig(model, host, paths);
    assert.ok(text.includes(String.raw`(10\.77\.1\.10|10\.77\.1\.20|10\.77\.1\.30)$`), text);
  });

  it('is accepted by prometheus-blackbox-exporter --config.check', async () => {
    const lab = scratchFixture('mon');
    try {
      const files = blackboxFiles(lab.paths);
      mkdirSync(lab.paths.etc, { recursive: true });
      writeFileSync(files.config, renderBlackboxConfig(lab.model, lab.host, lab.paths));
      const result = await runChecker(blackboxExporter.check(files.config));
      assert.equal(result.exitCode, 0, result.stderr + result.stdout);
    } finally {
      lab.dispose();
    }
  });
});
