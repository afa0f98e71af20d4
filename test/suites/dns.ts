/** The domain's DNS, as the client host sees it: dig, and the resolver of everything run there. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dig } from '../../src/commands/dig.ts';
import { nsd } from '../../src/commands/nsd.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { addressOf, hostsWithRole, siteAddresses } from '../../src/model/model.ts';
import { nsdFiles } from '../../src/render/dns/index.ts';
import type { TestLab } from '../support/lab.ts';

export function dnsSuite(lab: TestLab): void {
  const server = hostsWithRole(lab.model, 'dns')[0];
  // The edge's virtual addresses, which the load balancers hold (VRRP), not their own.
  const lbAddresses = siteAddresses(lab.model).sort();
  const www = `www.${lab.model.domain}`;

  async function answer(name: string, tcp = false): Promise<string[]> {
    assert.ok(server);
    const result = await lab.on(
      'client',
      dig.query(addressOf(server, 'edge'), name, 'A', { short: true, tcp }).argv,
    );
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout.trim().split('\n');
  }

  describe('DNS', () => {
    it('answers www and the apex with every virtual address, over UDP and TCP', async () => {
      for (const name of [www, lab.model.domain]) {
        assert.deepEqual((await answer(name)).sort(), lbAddresses);
        assert.deepEqual((await answer(name, true)).sort(), lbAddresses);
      }
    });

    it('rotates the order of the addresses between answers (round-robin)', async (t) => {
      assert.ok(server);
      const orders: string[] = [];
      let changed = 0;
      for (let i = 0; i < 20; i++) {
        // Two queries back to back from one dig: another resolver's query (the monitor's probe)
        // rarely falls between them, however slow the machine.
        const argv = [
          ...dig.query(addressOf(server, 'edge'), www, 'A', { short: true }).argv,
          www,
          'A',
        ];
        const result = await lab.on('client', argv);
        assert.equal(result.exitCode, 0, result.stderr);
        const lines = result.stdout.trim().split('\n');
        const [first, second] = [
          lines.slice(0, lbAddresses.length),
          lines.slice(lbAddresses.length),
        ];
        orders.push(first.join(' '), second.join(' '));
        if (first.join(' ') !== second.join(' ')) changed++;
      }
      // A fixed order changes in no pair, a random one in half (20 pairs: 16 or more by chance
      // has p < 1%); NSD's alternation changes it in every pair.
      t.diagnostic(`the order changed within ${changed} of 20 pairs of answers`);
      assert.ok(changed >= 16, `${changed} of 20 pairs: ${orders.join(' | ')}`);
      assert.equal(new Set(orders).size, lbAddresses.length);
    });

    it('answers with authority and the model’s short TTL', async () => {
      assert.ok(server);
      const result = await lab.on('client', dig.query(addressOf(server, 'edge'), www, 'A').argv);
      assert.match(result.stdout, /;; flags: qr aa/);
      const ttls = [...result.stdout.matchAll(/^www\.\S+\s+(\d+)\s+IN\s+A\s/gm)].map((m) =>
        Number(m[1]),
      );
      assert.deepEqual(
        ttls,
        lbAddresses.map(() => lab.model.dns.ttlSeconds),
      );
    });

    it('is what the client’s own resolver uses (its resolv.conf points there)', async () => {
      const result = await lab.on('client', ['getent', 'ahostsv4', www]);
      assert.equal(result.exitCode, 0, result.stderr);
      const addresses = new Set(
        result.stdout
          .split('\n')
          .map((line) => line.split(/\s+/)[0])
          .filter((a) => a !== ''),
      );
      assert.deepEqual([...addresses].sort(), lbAddresses);
    });

    it('has two name servers, both in the zone’s NS records, answering alike', async () => {
      const servers = hostsWithRole(lab.model, 'dns');
      assert.ok(servers.length >= 2, 'a second DNS server');
      for (const each of servers) {
        const ns = await lab.on(
          'client',
          dig.query(addressOf(each, 'edge'), lab.model.domain, 'NS', { short: true }).argv,
        );
        assert.deepEqual(
          ns.stdout.trim().split('\n').sort(),
          servers.map((s) => `${s.name}.${lab.model.domain}.`).sort(),
        );
        const a = await lab.on(
          'client',
          dig.query(addressOf(each, 'edge'), www, 'A', { short: true }).argv,
        );
        assert.deepEqual(a.stdout.trim().split('\n').sort(), lbAddresses, each.name);
      }
    });

    it('serves a zone that nsd-checkzone accepts', async () => {
      assert.ok(server);
      const files = nsdFiles(lab.model, hostPaths(lab.model, server.name));
      const result = await lab.on(server.name, nsd.checkZone(lab.model.domain, files.zone).argv);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stdout, /is ok/);
    });
  });
}
