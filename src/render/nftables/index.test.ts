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

function outputRules(text: string): string[] {
  return (text.match(/^ {8}oifname .* accept comment/gm) ?? []).map((line) =>
    line.trim().replace(/ accept comment$/, ''),
  );
}

describe('renderFirewall', () => {
  for (const name of ['lb-01', 'web-01', 'db-01', 'dns', 'mon', 'client']) {
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
    assert.doesNotMatch(renderFirewall(model, db, [addressOf(db, 'core')]), /fenced former/);
    // Hosts that are no primary's client have nothing to refuse.
    assert.doesNotMatch(
      renderFirewall(model, fixture('lb-01').host, ['10.77.2.31']),
      /fenced former/,
    );
  });

  it('opens a web server’s output to the databases only, and refuses and counts the rest', () => {
    const { model, host } = fixture('web-02');
    const text = renderFirewall(model, host);
    assert.deepEqual(outputRules(text), [
      'oifname "core" ip daddr { 10.77.2.31, 10.77.2.32 } tcp dport 3306',
    ]);
    const chain = text.slice(text.indexOf('chain output'));
    assert.match(chain, /policy drop;\n {8}oif "lo" accept/);
    assert.match(chain, /\n {8}ct state established,related accept\n/);
    assert.match(
      chain,
      /meta l4proto tcp counter name "output_refused" reject with tcp reset.*\n {8}counter name "output_refused" drop\n {4}\}/,
    );
  });

  it('opens each host’s output to exactly the flows it opens, the inputs seen from the other end', () => {
    const lab = fixture('mon');
    assert.deepEqual(outputRules(renderFirewall(lab.model, lab.host)), [
      'oifname "core" ip daddr { 10.77.2.11, 10.77.2.12 } tcp dport 2380',
      'oifname "core" ip daddr { 10.77.2.11, 10.77.2.12 } tcp dport 2379',
      'oifname "core" ip daddr { 10.77.2.31, 10.77.2.32 } tcp dport 3306',
      'oifname "edge" ip daddr { 10.77.1.53, 10.77.1.54 } udp dport 53',
      'oifname "edge" ip daddr { 10.77.1.11, 10.77.1.12 } tcp dport 443',
      'oifname "edge" ip daddr { 10.77.1.11, 10.77.1.12, 10.77.1.10, 10.77.1.20 } tcp dport 443',
      // The node exporter, on every server: one rule per role, over the network it is scraped on.
      'oifname "edge" ip daddr { 10.77.1.53, 10.77.1.54 } tcp dport 9100',
      'oifname "core" ip daddr { 10.77.2.11, 10.77.2.12 } tcp dport 9100',
      'oifname "core" ip daddr { 10.77.2.21, 10.77.2.22 } tcp dport 9100',
      'oifname "core" ip daddr { 10.77.2.31, 10.77.2.32 } tcp dport 9100',
      'oifname "core" ip daddr 10.77.2.40 tcp dport 9100',
      'oifname "core" ip daddr { 10.77.2.11, 10.77.2.12 } tcp dport 8404',
      'oifname "core" ip daddr { 10.77.2.21, 10.77.2.22 } tcp dport 9113',
      'oifname "core" ip daddr { 10.77.2.21, 10.77.2.22 } tcp dport 9180',
      'oifname "core" ip daddr { 10.77.2.31, 10.77.2.32 } tcp dport 9104',
      'oifname "core" ip daddr { 10.77.2.11, 10.77.2.12 } tcp dport 9099',
      'oifname "core" ip daddr 10.77.2.40 tcp dport 9401',
    ]);
    // The DNS servers open nothing: NSD only answers.
    const dns = fixture('dns');
    assert.deepEqual(outputRules(renderFirewall(dns.model, dns.host)), []);
    // The monitor's probes need no input rule of their own: the internet's already admit them.
    const lb = fixture('lb-01');
    assert.ok(
      !acceptRules(renderFirewall(lb.model, lb.host)).some(
        (r) => r.includes('dport 443') && r.includes('saddr'),
      ),
    );
  });

  it('leaves the output of the host that stands for the internet open', () => {
    const { model, host } = fixture('client');
    const text = renderFirewall(model, host);
    assert.match(
      text,
      /chain output \{\n {8}type filter hook output priority filter; policy accept;/,
    );
    assert.deepEqual(outputRules(text), []);
  });

  it('accepts on a web server only the load balancers on 443 (TLS) and the monitor’s scrapes', () => {
    const { model, host } = fixture('web-02');
    assert.deepEqual(acceptRules(renderFirewall(model, host)), [
      'iifname "core" ip saddr { 10.77.2.11, 10.77.2.12 } ip daddr 10.77.2.22 tcp dport 443',
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
