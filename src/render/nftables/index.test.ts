import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nft } from '../../commands/nft.ts';
import { assertGolden } from '../golden.ts';
import { fixture, inScratchNamespace, runChecker, scratchFixture } from '../testing.ts';
import {
  firewallFile,
  MIRROR_SET,
  openMirrors,
  renderConnectionTracking,
  renderFirewall,
} from './index.ts';
import { addressOf, findHost } from '../../model/model.ts';
import { buildModel } from '../../model/build.ts';
import { exampleModel } from '../../model/examples-testing.ts';

const golden = (name: string): string => path.join(import.meta.dirname, '__golden__', name);

function acceptRules(text: string): string[] {
  return (text.match(/^ {8}iifname .* accept comment/gm) ?? []).map((line) =>
    line.trim().replace(/ accept comment$/, ''),
  );
}

/** The output rules of what a machine needs outside the site (no interface: whatever route). */
function outsideRules(text: string): string[] {
  return (text.match(/^ {8}ip daddr .* accept comment "outside: .*$/gm) ?? []).map((line) =>
    line.trim().replace(/ accept comment "outside: .*$/, ''),
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

  it('opens a machine’s output to the resolvers and time servers it names, and to its mirrors only through the set provisioning fills (golden)', () => {
    const model = exampleModel('machines');
    const web = findHost(model, 'web-01');
    assert.ok(web !== undefined);
    const text = renderFirewall(model, web);
    assertGolden(golden('machines-web-01.nft'), text);
    assert.deepEqual(outsideRules(text), [
      'ip daddr { 198.51.100.53, 198.51.100.54 } udp dport 53',
      'ip daddr { 198.51.100.53, 198.51.100.54 } tcp dport 53',
      'ip daddr 198.51.100.123 udp dport 123',
      `ip daddr @${MIRROR_SET} tcp dport { 80, 443 }`,
    ]);
    // The set is declared empty, and loading the rules empties it (flush table keeps elements).
    assert.match(text, /set mirrors \{\n {8}type ipv4_addr; flags interval, timeout;\n {4}\}/);
    assert.match(text, /\nflush set inet foobar mirrors\n$/);
    assert.doesNotMatch(text, /192\.0\.2\.0/);
    // Every server of the example the same; the outside rules come after the flows, before the refusal.
    for (const host of model.hosts) {
      const rules = renderFirewall(model, host);
      assert.deepEqual(outsideRules(rules), outsideRules(text), host.name);
      assert.ok(rules.indexOf('outside:') < rules.indexOf('counter name "output_refused"'));
    }
    // A list left empty opens nothing, and without mirrors there is no set.
    const bare = buildModel({
      ...(model.given as Record<string, unknown>),
      machines: { resolvers: ['198.51.100.53'], timeServers: [], mirrors: [] },
    });
    const none = renderFirewall(bare, web);
    assert.deepEqual(outsideRules(none), [
      'ip daddr 198.51.100.53 udp dport 53',
      'ip daddr 198.51.100.53 tcp dport 53',
    ]);
    assert.doesNotMatch(none, /mirrors/);
  });

  it('names nothing outside the site in the lab: no host resolves, keeps time or installs there', () => {
    const lab = fixture('web-01');
    for (const host of lab.model.hosts) {
      const text = renderFirewall(lab.model, host);
      assert.deepEqual(outsideRules(text), [], host.name);
      assert.doesNotMatch(text, /mirrors/);
    }
  });

  it('is accepted by nft -c for every machine of the example, and its mirror set takes blocks that expire', async () => {
    const model = exampleModel('machines');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-nft-'));
    try {
      for (const host of model.hosts) {
        const file = path.join(dir, `${host.name}.nft`);
        writeFileSync(
          file,
          `${renderFirewall(model, host)}${openMirrors(model.platform.kind === 'machines' ? model.platform.outside.mirrors : [], 60)}`,
        );
        const result = await runChecker(inScratchNamespace(nft.check(file)));
        assert.equal(result.exitCode, 0, `${host.name}: ${result.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("tracks connections before the first rules: accepted by nft -c, in foobar's table, which the rules then replace", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-nft-'));
    try {
      const file = path.join(dir, 'track.nft');
      const text = renderConnectionTracking();
      writeFileSync(file, text);
      const result = await runChecker(inScratchNamespace(nft.check(file)));
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(text, /^add table inet foobar\nflush table inet foobar\n/);
      assert.match(text, /policy accept;\n\s+ct state new accept\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
