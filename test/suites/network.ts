/**
 * The two networks and the host firewalls, as packets see them: every (source, destination, port)
 * the model's hosts and ports make is tried, and the outcome compared with the flows, in both
 * directions: what a server may not open is refused where it starts, and counted there.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nft } from '../../src/commands/nft.ts';
import { hostPaths, labPaths } from '../../src/model/layout.ts';
import { addressOf, hostsWithRole } from '../../src/model/model.ts';
import { DROP_COUNTERS, firewallFile } from '../../src/render/nftables/index.ts';
import { FIREWALL_PACKETS_METRIC } from '../../src/commands/nft.ts';
import { waitFor } from '../../src/lib/wait.ts';
import { prometheusQuery } from '../../src/probes/prometheus.ts';
import { droppedPackets } from '../../src/steps/firewall.ts';
import { checkMatrix } from '../support/matrix.ts';
import type { TestLab } from '../support/lab.ts';

export function networkSuite(lab: TestLab): void {
  const model = lab.model;

  /** The kernel's IP counters in a host (/proc/net/snmp, per namespace): name → value. */
  async function ipCounters(host: string): Promise<Record<string, number>> {
    const snmp = await lab.on(host, ['cat', '/proc/net/snmp']);
    const [names = '', values = ''] = snmp.stdout
      .split('\n')
      .filter((line) => line.startsWith('Ip: '));
    const keys = names.split(' ').slice(1);
    const numbers = values.split(' ').slice(1).map(Number);
    return Object.fromEntries(keys.map((key, i) => [key, numbers[i] ?? 0]));
  }

  describe('networks and firewalls', () => {
    it('every (source, destination, port) pair behaves as the flows say: allowed ones connect, all others fail', async (t) => {
      // Measured about 2.5 s on a quiet machine (docs/decisions.md): a bound, not a benchmark.
      await checkMatrix(
        {
          ctx: lab.ctx,
          reach: (host, args) => lab.script(host, 'test/support/reach.ts', args),
        },
        t,
        60,
      );
    });

    it('keeps HAProxy’s stats and metrics from the internet, open to this machine', async () => {
      const lb = hostsWithRole(model, 'lb')[0];
      assert.ok(lb);
      // Over TLS, verified against the lab's CA (suites/transit-exporters.ts checks the rest).
      const url = `https://${addressOf(lb, 'edge')}:${model.ports.lbStats}/metrics`;
      const admin = await lab.on(null, [
        'curl',
        '-sS',
        '-m',
        '3',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--cacert',
        labPaths(model).caCertificate,
        url,
      ]);
      assert.equal(admin.stdout, '200', admin.stderr);
      const before = await droppedPackets(lab.ctx, lb.name);
      const client = await lab.on('client', ['curl', '-sS', '-m', '1', url]);
      assert.equal(client.exitCode, 28, 'the client’s connection times out (dropped)');
      const after = await droppedPackets(lab.ctx, lb.name);
      assert.ok(
        before !== undefined && after !== undefined && after > before,
        `drops counted: ${before} → ${after}`,
      );
    });

    it('refuses a web server’s connection to the internet at once, and counts it', async (t) => {
      const [lb, web, db] = (['lb', 'web', 'db'] as const).map(
        (role) => hostsWithRole(model, role)[0],
      );
      assert.ok(lb && web && db);
      // TEST-NET-1 (RFC 5737), never a real address: the web server is given a way out through a
      // load balancer, as a server with a default route has one; without its firewall the SYN
      // would leave (and go unanswered: nothing forwards it).
      const outside = '192.0.2.1';
      const route = ['ip', 'route', 'add', `${outside}/32`, 'via', addressOf(lb, 'core')];
      assert.equal((await lab.on(web.name, route)).exitCode, 0);
      const curl = (url: string): Promise<{ exitCode: number; ms: number }> =>
        lab
          .on(web.name, ['curl', '-sS', '-m', '5', '-o', '/dev/null', '-w', '%{time_total}', url])
          .then((r) => ({ exitCode: r.exitCode, ms: Math.round(Number(r.stdout) * 1000) }));
      try {
        const before = await droppedPackets(lab.ctx, web.name, 'output');
        const internet = await curl(`https://${outside}:${model.ports.https}/`);
        // A database server's port that only the monitor may open (its node exporter).
        const exporter = await curl(`http://${addressOf(db, 'core')}:${model.ports.nodeExporter}/`);
        const after = await droppedPackets(lab.ctx, web.name, 'output');
        t.diagnostic(
          `${web.name} → ${outside}: curl exit ${internet.exitCode} in ${internet.ms} ms; → ${db.name} node exporter: exit ${exporter.exitCode} in ${exporter.ms} ms; refused ${before} → ${after}`,
        );
        // 7: could not connect (refused), where a drop would have made curl wait out -m (28).
        assert.equal(internet.exitCode, 7);
        assert.equal(exporter.exitCode, 7);
        // Measured a few ms: refused where it starts, no wait for any answer.
        assert.ok(internet.ms < 1000 && exporter.ms < 1000, 'refused at once');
        assert.ok(before !== undefined && after !== undefined);
        assert.equal(after - before, 2, 'both refusals counted');
        // And the monitoring has the count too (the host's node exporter serves it), so an alert
        // can tell a host that keeps sending what no flow allows.
        const query = `${FIREWALL_PACKETS_METRIC}{host="${web.name}",counter="${DROP_COUNTERS.output}"}`;
        let scraped: number | undefined;
        await waitFor(
          `Prometheus sees ${web.name}'s refusals`,
          async () => {
            const result = await prometheusQuery(lab.ctx, query);
            if ('error' in result) return result.error;
            scraped = result[0]?.value;
            return scraped !== undefined && scraped >= after ? undefined : `${query} = ${scraped}`;
          },
          { timeoutMs: 60_000, intervalMs: 1000 },
        );
        t.diagnostic(`Prometheus: ${query} = ${scraped}`);
      } finally {
        await lab.on(web.name, ['ip', 'route', 'del', `${outside}/32`]);
      }
    });

    it('routes nothing between the networks: a client routing the core via a load balancer gets nowhere', async (t) => {
      const [lb, web] = [hostsWithRole(model, 'lb')[0], hostsWithRole(model, 'web')[0]];
      assert.ok(lb && web);
      // Every host that sits on both networks forwards nothing, by its kernel's own setting.
      for (const host of model.hosts.filter((h) => Object.keys(h.addresses).length > 1)) {
        const forwarding = await lab.on(host.name, ['cat', '/proc/sys/net/ipv4/ip_forward']);
        assert.equal(forwarding.stdout.trim(), '0', `${host.name}: ip_forward`);
      }
      const core = model.networks.core.subnet.cidr;
      const route = ['ip', 'route', 'add', core, 'via', addressOf(lb, 'edge')];
      const before = await ipCounters(lb.name);
      assert.equal((await lab.on('client', route)).exitCode, 0);
      try {
        const result = await lab.on('client', [
          'curl',
          '-sS',
          '-m',
          '2',
          `http://${addressOf(web, 'core')}/`,
        ]);
        assert.notEqual(
          result.exitCode,
          0,
          'no answer from a web server through the load balancer',
        );
      } finally {
        await lab.on('client', ['ip', 'route', 'del', core]);
      }
      // The packets reached the load balancer, which refused to route them: counted as
      // addressed to someone else, none forwarded.
      const after = await ipCounters(lb.name);
      const delta = (name: string): number => (after[name] ?? 0) - (before[name] ?? 0);
      t.diagnostic(
        `${lb.name}: ForwDatagrams +${delta('ForwDatagrams')}, InAddrErrors +${delta('InAddrErrors')}`,
      );
      assert.equal(delta('ForwDatagrams'), 0, `${lb.name} forwarded nothing`);
      assert.ok(delta('InAddrErrors') > 0, `${lb.name} received the packets and dropped them`);
    });

    it('runs rules that nft -c accepts on every host', async () => {
      for (const host of model.hosts) {
        const result = await lab.on(
          host.name,
          nft.check(firewallFile(hostPaths(model, host.name))).argv,
        );
        assert.equal(result.exitCode, 0, `${host.name}: ${result.stderr}`);
      }
    });
  });
}
