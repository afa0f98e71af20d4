import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nft } from '../../commands/nft.ts';
import { assertGolden } from '../golden.ts';
import { fixture, inScratchNamespace, runChecker, scratchFixture } from '../testing.ts';
import { firewallFile, renderFirewall } from './index.ts';
import { addressOf } from '../../model/model.ts';

const golden = (name: string): string => path.join(import.meta.dirname, '__golden__', name);

function acceptRules(text: string): string[] {
  return (text.match(/^ {8}iifname .* accept comment/gm) ?? []).map((line) =>
    line.trim().replace(/ accept comment$/, ''),
  );
}

describe('renderFirewall', () => {
  for (const name of ['lb-01', 'web-01', 'db-01', 'dns', 'client']) {
    it(`matches the golden file for ${name} of the default lab`, () => {
      const { model, host } = fixture(name);
      assertGolden(golden(`${name}.nft`), renderFirewall(model, host));
    });
  }

  it('makes web and database servers refuse connections to a fenced former primary (golden)', () => {
    const { model, host } = fixture('web-01');
    assertGolden(golden('web-01-fenced.nft'), renderFirewall(model, host, ['10.77.2.31']));
    // A replica must not fetch from it either; the fenced server never refuses itself.
    const db = fixture('db-02').host;
    assert.match(
      renderFirewall(model, db, ['10.77.2.31']),
      /ip daddr 10\.77\.2\.31 tcp dport 3306 reject with tcp reset/,
    );
    assert.doesNotMatch(renderFirewall(model, db, [addressOf(db, 'core')]), /chain output/);
    // Hosts that are no primary's client have nothing to refuse.
    assert.doesNotMatch(
      renderFirewall(model, fixture('lb-01').host, ['10.77.2.31']),
      /chain output/,
    );
  });

  it('accepts on a web server only the load balancers on port 80 and the monitor’s scrapes', () => {
    const { model, host } = fixture('web-02');
    assert.deepEqual(acceptRules(renderFirewall(model, host)), [
      'iifname "core" ip saddr { 10.77.2.11, 10.77.2.12 } ip daddr 10.77.2.22 tcp dport 80',
      'iifname "core" ip saddr 10.77.2.90 ip daddr 10.77.2.22 tcp dport 9100',
      'iifname "core" ip saddr 10.77.2.90 ip daddr 10.77.2.22 tcp dport 9113',
      'iifname "core" ip saddr 10.77.2.90 ip daddr 10.77.2.22 tcp dport 9180',
    ]);
  });

  it('accepts the site on the virtual addresses too, and VRRP from the other load balancer only', () => {
    const { model, host } = fixture('lb-02');
    const rules = acceptRules(renderFirewall(model, host));
    assert.ok(
      rules.includes(
        'iifname "edge" ip daddr { 10.77.1.12, 10.77.1.10, 10.77.1.20 } tcp dport 443',
      ),
      rules.join('\n'),
    );
    assert.deepEqual(
      rules.filter((r) => r.includes('ip protocol')),
      ['iifname "edge" ip saddr 10.77.1.11 ip daddr 10.77.1.12 ip protocol 112'],
    );
    const web = acceptRules(renderFirewall(model, fixture('web-01').host));
    assert.ok(!web.some((r) => r.includes('ip protocol')), 'VRRP reaches load balancers only');
  });

  it('opens the stats port to the admin and the monitor only, never to the edge at large', () => {
    const { model, host } = fixture('lb-02');
    const stats = acceptRules(renderFirewall(model, host)).filter((r) => r.endsWith('dport 8404'));
    assert.deepEqual(stats, [
      'iifname "edge" ip saddr 10.77.1.1 ip daddr 10.77.1.12 tcp dport 8404',
      'iifname "core" ip saddr 10.77.2.90 ip daddr 10.77.2.12 tcp dport 8404',
    ]);
  });

  it('follows the model: a third web server is one more source on the database hosts', () => {
    const { model, host } = fixture('db-01', {
      hosts: { 'web-03': { roles: ['web'], core: 23 } },
    });
    assert.ok(
      acceptRules(renderFirewall(model, host)).includes(
        'iifname "core" ip saddr { 10.77.2.21, 10.77.2.22, 10.77.2.23 } ip daddr 10.77.2.31 tcp dport 3306',
      ),
    );
  });

  it('is accepted by nft -c for every host', async () => {
    const lab = scratchFixture('client');
    try {
      for (const host of lab.model.hosts) {
        const file = path.join(lab.model.lab.stateDir, `${host.name}.nft`);
        mkdirSync(path.dirname(file), { recursive: true });
        // Web and database servers with a fenced former primary: their output chain must pass too.
        const db = lab.model.hosts.find((h) => h.roles.includes('db'));
        writeFileSync(
          file,
          renderFirewall(lab.model, host, db === undefined ? [] : [addressOf(db, 'core')]),
        );
        const result = await runChecker(inScratchNamespace(nft.check(file)));
        assert.equal(result.exitCode, 0, `${host.name}: ${result.stderr}`);
      }
      assert.equal(path.basename(firewallFile(lab.paths)), 'nftables.conf');
    } finally {
      lab.dispose();
    }
  });
});
