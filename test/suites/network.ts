/**
 * The two networks and the host firewalls, as packets see them: every (source, destination, port)
 * the model's hosts and ports make is tried, and the outcome compared with the flows, in both
 * directions: what a server may not open is refused where it starts, and counted there.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nft } from '../../src/commands/nft.ts';
import { concreteFlows, standsForInternet } from '../../src/model/flows.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { addressOf, findHost, hostsWithRole } from '../../src/model/model.ts';
import { NETWORKS, PORT_NAMES } from '../../src/model/schema.ts';
import { firewallFile } from '../../src/render/nftables/index.ts';
import { droppedPackets } from '../../src/steps/firewall.ts';
import type { Outcome, Probe } from '../support/reach.ts';
import type { TestLab } from '../support/lab.ts';

/** Long enough for any answer on a veth, short enough that a dropped SYN costs little. */
const CONNECT_TIMEOUT_MS = 1000;

interface Case extends Probe {
  readonly from: string;
  readonly to: string;
  readonly allowed: boolean;
  /** Not allowed, and the source's own firewall decides: it has a route, and a restricted output. */
  readonly refusedAtSource: boolean;
}

export function networkSuite(lab: TestLab): void {
  const model = lab.model;

  /** Every probe: each source (hosts, and this machine as "admin") to each address of each other host. */
  function cases(): Case[] {
    const flows = concreteFlows(model);
    const ports = [...new Set(PORT_NAMES.map((name) => model.ports[name]))].map((port) => ({
      port,
      proto: 'tcp' as const,
    }));
    const targets = [...ports, { port: model.ports.dns, proto: 'udp' as const }];
    const sources = ['admin', ...model.hosts.map((h) => h.name)];
    const result: Case[] = [];
    for (const from of sources) {
      const source = findHost(model, from);
      for (const to of model.hosts) {
        if (to.name === from) continue;
        for (const network of NETWORKS) {
          const address = to.addresses[network];
          if (address === undefined) continue;
          // This machine joins the edge only: a core address would leave by its default route.
          if (from === 'admin' && network !== 'edge') continue;
          for (const { port, proto } of targets) {
            const allowed = flows.some(
              (f) =>
                f.from === from &&
                f.to === to.name &&
                f.address === address &&
                f.port === port &&
                f.proto === proto,
            );
            const routed = source?.addresses[network] !== undefined;
            const refusedAtSource = !allowed && restrictedSource(from) && routed;
            result.push({ from, to: to.name, address, port, proto, allowed, refusedAtSource });
          }
        }
      }
    }
    return result;
  }

  /** What listens on each host now (from ss), so an allowed flow can be told to connect or be refused. */
  async function listening(): Promise<Set<string>> {
    const found = new Set<string>();
    await Promise.all(
      model.hosts.map(async (host) => {
        const result = await lab.on(host.name, ['ss', '-Hlntu']);
        for (const line of result.stdout.split('\n')) {
          const [proto, , , , local] = line.trim().split(/\s+/);
          const cut = local?.lastIndexOf(':') ?? -1;
          if (proto === undefined || local === undefined || cut < 0) continue;
          const ip = local.slice(0, cut);
          const port = local.slice(cut + 1);
          for (const address of Object.values(host.addresses)) {
            if (ip === address || ip === '0.0.0.0' || ip === '*')
              found.add(`${host.name} ${address} ${port}/${proto}`);
          }
        }
      }),
    );
    return found;
  }

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

  /** This machine and the hosts that stand for the internet send anything; servers do not. */
  function restrictedSource(from: string): boolean {
    const host = findHost(model, from);
    return host !== undefined && !standsForInternet(host);
  }

  /** The output_refused counter of each host. */
  async function refusedCounts(hosts: readonly string[]): Promise<Map<string, number>> {
    const counts = await Promise.all(
      hosts.map(async (host) => {
        const count = await droppedPackets(lab.ctx, host, 'output');
        assert.ok(count !== undefined, `${host}: no output_refused counter`);
        return [host, count] as const;
      }),
    );
    return new Map(counts);
  }

  describe('networks and firewalls', () => {
    it('every (source, destination, port) pair behaves as the flows say: allowed ones connect, all others fail', async (t) => {
      const all = cases();
      const listeners = await listening();
      const servers = model.hosts.filter((h) => !standsForInternet(h)).map((h) => h.name);
      const refusedBefore = await refusedCounts(servers);
      const started = Date.now();
      const bySource = Map.groupBy(all, (c) => c.from);
      const outcomes = new Map<Case, Outcome>();
      await Promise.all(
        [...bySource].map(async ([from, list]) => {
          const probes = list.map(({ address, port, proto }) => ({ address, port, proto }));
          const result = await lab.script(from === 'admin' ? null : from, 'test/support/reach.ts', [
            '--timeout-ms',
            String(CONNECT_TIMEOUT_MS),
            JSON.stringify(probes),
          ]);
          assert.equal(result.exitCode, 0, `${from}: ${result.stderr}`);
          const got = JSON.parse(result.stdout) as Outcome[];
          list.forEach((c, i) => outcomes.set(c, got[i] ?? 'error missing'));
        }),
      );
      const seconds = (Date.now() - started) / 1000;
      const wrong: string[] = [];
      const tally = new Map<string, number>();
      for (const [c, outcome] of outcomes) {
        const listens = listeners.has(`${c.to} ${c.address} ${c.port}/${c.proto}`);
        // Allowed: the firewalls let it through; it connects when a daemon listens, else is refused.
        // Not allowed from a server: its own firewall refuses it at once (a reset for TCP, EPERM
        // for UDP), or it has no route. From the internet: dropped (no answer), or no route.
        const expected = c.allowed
          ? listens
            ? ['open']
            : ['refused']
          : c.refusedAtSource
            ? [c.proto === 'tcp' ? 'refused' : 'prohibited']
            : restrictedSource(c.from)
              ? ['unreachable']
              : ['timeout', 'unreachable'];
        const key = `${c.allowed ? 'allowed' : 'denied'} ${outcome}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        if (!expected.includes(outcome))
          wrong.push(
            `${c.from} → ${c.to} ${c.address}:${c.port}/${c.proto}: ${outcome}, expected ${expected.join(' or ')}`,
          );
      }
      t.diagnostic(
        `${outcomes.size} pairs in ${seconds.toFixed(1)} s: ${[...tally].map(([k, n]) => `${n} ${k}`).join(', ')}`,
      );
      assert.deepEqual(wrong, []);
      // Each server counted exactly the probes its firewall refused: none more (a daemon's own
      // traffic refused meanwhile would show here), none fewer.
      const refusedAfter = await refusedCounts(servers);
      const miscounted = servers.flatMap((host) => {
        const expected = all.filter((c) => c.from === host && c.refusedAtSource).length;
        const counted = (refusedAfter.get(host) ?? 0) - (refusedBefore.get(host) ?? 0);
        return counted === expected ? [] : [`${host}: ${counted} refused, ${expected} expected`];
      });
      assert.deepEqual(miscounted, []);
      const untried = concreteFlows(model).filter(
        (f) =>
          !all.some(
            (c) =>
              c.allowed &&
              c.from === f.from &&
              c.to === f.to &&
              c.address === f.address &&
              c.port === f.port &&
              c.proto === f.proto,
          ),
      );
      assert.deepEqual(untried, [], 'every flow of the model is among the pairs tried');
      assert.ok((tally.get('allowed open') ?? 0) >= 10);
      // Measured about 2.5 s on a quiet machine (docs/decisions.md): a bound, not a benchmark.
      assert.ok(seconds < 60, `the matrix took ${seconds} s`);
    });

    it('keeps HAProxy’s stats and metrics from the internet, open to this machine', async () => {
      const lb = hostsWithRole(model, 'lb')[0];
      assert.ok(lb);
      const url = `http://${addressOf(lb, 'edge')}:${model.ports.lbStats}/metrics`;
      const admin = await lab.on(null, [
        'curl',
        '-sS',
        '-m',
        '3',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        url,
      ]);
      assert.equal(admin.stdout, '200');
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
