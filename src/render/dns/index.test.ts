import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nsd } from '../../commands/nsd.ts';
import { assertGolden } from '../golden.ts';
import { fixture, runChecker, scratchFixture } from '../testing.ts';
import { nsdFiles, renderNsdConfig, renderResolvConf, renderZone } from './index.ts';

const golden = (name: string): string => path.join(import.meta.dirname, '__golden__', name);

describe('the DNS renderers', () => {
  it('match the golden files for the default lab', () => {
    const { model, host, paths } = fixture('dns');
    assertGolden(golden('nsd.conf'), renderNsdConfig(model, host, paths));
    assertGolden(golden('foobar.com.zone'), renderZone(model));
    assertGolden(golden('resolv.conf'), renderResolvConf(model));
  });

  it('give www and the apex one A record per virtual address, with the model’s TTL', () => {
    const { model } = fixture('dns', {
      domain: 'example.org',
      dns: { ttlSeconds: 15 },
      hosts: { 'lb-03': { roles: ['lb'], edge: 13, core: 13 } },
      vrrp: { virtualAddresses: { 'lb-03': 30 } },
    });
    const zone = renderZone(model);
    const a = (name: string): string[] =>
      (zone.match(new RegExp(`^${name}\\tIN\\tA\\t.*$`, 'gm')) ?? []).map(
        (l) => l.split('\t')[3] ?? '',
      );
    const vips = ['10.77.1.10', '10.77.1.20', '10.77.1.30'];
    assert.deepEqual(a('www'), vips);
    assert.deepEqual(a('@'), vips);
    // Both name servers are in the zone, each with its address.
    assert.deepEqual(a('dns'), ['10.77.1.53']);
    assert.deepEqual(a('dns-02'), ['10.77.1.54']);
    assert.match(zone, /^@\tIN\tNS\tdns\.example\.org\.\n@\tIN\tNS\tdns-02\.example\.org\.$/m);
    assert.match(zone, /^\$ORIGIN example\.org\.$/m);
    assert.match(zone, /^\$TTL 15$/m);
  });

  it('change the zone’s serial when the records change, and only then', () => {
    const serial = (config: Record<string, unknown>): string =>
      /SOA\t\S+ \S+ (\d+)/.exec(renderZone(fixture('dns', config).model))?.[1] ?? '';
    assert.equal(serial({}), serial({ lb: { retries: 1 } }));
    assert.notEqual(serial({}), serial({ vrrp: { virtualAddresses: { 'lb-02': null } } }));
  });

  it('are accepted by nsd-checkconf and nsd-checkzone', async () => {
    const lab = scratchFixture('dns');
    try {
      const files = nsdFiles(lab.model, lab.paths);
      mkdirSync(lab.paths.etc, { recursive: true });
      writeFileSync(files.config, renderNsdConfig(lab.model, lab.host, lab.paths));
      writeFileSync(files.zone, renderZone(lab.model));
      for (const check of [
        nsd.checkConfig(files.config),
        nsd.checkZone(lab.model.domain, files.zone),
      ]) {
        const result = await runChecker(check);
        assert.equal(
          result.exitCode,
          0,
          `${check.argv.join(' ')}: ${result.stderr}${result.stdout}`,
        );
      }
    } finally {
      lab.dispose();
    }
  });
});
