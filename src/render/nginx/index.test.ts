import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nginx } from '../../commands/nginx.ts';
import { assertGolden } from '../golden.ts';
import {
  fixture,
  inPreparedNamespace,
  runChecker,
  scratchFixture,
  selfSignedCertificate,
} from '../testing.ts';
import { addressOf } from '../../model/model.ts';
import { transitFiles } from '../../model/transit.ts';
import { nginxFiles, renderNginxConfig } from './index.ts';

describe('renderNginxConfig', () => {
  it('matches the golden file for web-01 of the default lab', () => {
    const { model, host, paths } = fixture('web-01');
    assertGolden(
      path.join(import.meta.dirname, '__golden__', 'web-01.conf'),
      renderNginxConfig(model, host, paths, model.ports.app),
    );
  });

  it('is accepted by nginx -t', async () => {
    const lab = scratchFixture('web-02');
    try {
      const files = nginxFiles(lab.paths);
      for (const dir of [lab.paths.etc, lab.paths.log, files.temp])
        mkdirSync(dir, { recursive: true });
      await selfSignedCertificate(transitFiles(lab.paths, 'nginx'), 'web-02.core.foobar.com');
      writeFileSync(
        files.config,
        renderNginxConfig(lab.model, lab.host, lab.paths, lab.model.ports.appGreen),
      );
      // Nginx -t binds its listeners: in a scratch namespace that holds the core address.
      const result = await runChecker(
        inPreparedNamespace(
          `ip link set lo up && ip address add ${addressOf(lab.host, 'core')}/32 dev lo`,
          nginx.check(files),
        ),
      );
      assert.equal(result.exitCode, 0, result.stderr);
    } finally {
      lab.dispose();
    }
  });
});
