import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { haproxy } from '../../commands/haproxy.ts';
import { assertGolden } from '../golden.ts';
import { fixture, runChecker, scratchFixture } from '../testing.ts';
import { haproxyFiles, renderHaproxyConfig } from './index.ts';

const golden = (name: string): string => path.join(import.meta.dirname, '__golden__', name);

describe('renderHaproxyConfig', () => {
  it('matches the golden file for lb-01 of the default lab', () => {
    const { model, host, paths } = fixture('lb-01');
    assertGolden(golden('lb-01.cfg'), renderHaproxyConfig(model, host, paths));
  });

  it('lists every web server of the model, three with the example config', () => {
    const { model, host, paths } = fixture('lb-02', {
      hosts: { 'web-03': { roles: ['web'], core: 23 } },
    });
    const servers = renderHaproxyConfig(model, host, paths).match(/^ {4}server .*$/gm);
    assert.deepEqual(servers, [
      '    server web-01 10.77.2.21:80',
      '    server web-02 10.77.2.22:80',
      '    server web-03 10.77.2.23:80',
    ]);
  });

  it('is accepted by haproxy -c with zero warnings', async () => {
    const lab = scratchFixture('lb-01');
    try {
      const files = haproxyFiles(lab.paths);
      mkdirSync(path.dirname(files.config), { recursive: true });
      writeFileSync(files.config, renderHaproxyConfig(lab.model, lab.host, lab.paths));
      const result = await runChecker(haproxy.check(files.config));
      assert.equal(result.exitCode, 0, result.stderr);
    } finally {
      lab.dispose();
    }
  });
});
