import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { alertmanager } from '../../commands/monitoring.ts';
import { assertGolden } from '../golden.ts';
import { fixture, runChecker, scratchFixture } from '../testing.ts';
import { alertmanagerFiles, renderAlertmanagerConfig } from './index.ts';

describe('renderAlertmanagerConfig', () => {
  it('matches the golden file for the default lab', () => {
    const { model, host } = fixture('mon');
    assertGolden(
      path.join(import.meta.dirname, '__golden__', 'alertmanager.yml'),
      renderAlertmanagerConfig(model, host),
    );
  });

  it('is accepted by amtool check-config', async () => {
    const lab = scratchFixture('mon');
    try {
      const files = alertmanagerFiles(lab.paths);
      mkdirSync(lab.paths.etc, { recursive: true });
      writeFileSync(files.config, renderAlertmanagerConfig(lab.model, lab.host));
      const result = await runChecker(alertmanager.check(files.config));
      assert.equal(result.exitCode, 0, result.stderr + result.stdout);
      assert.match(
        result.stdout,
        /Found:\n.*- global config\n.*- route\n.*- 3 inhibit rules\n.*- 1 receivers/,
      );
    } finally {
      lab.dispose();
    }
  });
});
