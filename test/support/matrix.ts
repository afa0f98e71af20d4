/**
 * The reachability matrix, on either platform: every (source, destination address, port) the
 * model's hosts and ports make is tried from the source itself (test/support/reach.ts), and the
 * outcome compared with the flows: an allowed pair connects (or is refused when nothing listens),
 * every other one fails where the firewalls say: refused at a server that may not open it (and
 * counted there), dropped or unroutable from anywhere else. The lab's network suite and the
 * machines' site test run it; they differ only in how reach.ts gets to run on a host.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { ip } from '../../src/commands/ip.ts';
import type { ExecResult } from '../../src/drivers/driver.ts';
import { concreteFlows, standsForInternet } from '../../src/model/flows.ts';
import { findHost } from '../../src/model/model.ts';
import { routeSubnet, subnetContains } from '../../src/model/net.ts';
import { NETWORKS, PORT_NAMES } from '../../src/model/schema.ts';
import type { Context } from '../../src/steps/context.ts';
import { droppedPackets } from '../../src/steps/firewall.ts';
import type { Outcome, Probe } from './reach.ts';

/** Long enough for any answer on a veth or a bridge, short enough that a dropped SYN costs little. */
export const CONNECT_TIMEOUT_MS = 1000;

export interface MatrixSite {
  /** Its model and a driver that reaches its hosts. */
  readonly ctx: Context;
  /** test/support/reach.ts run with `args` on a host, or on this machine (null: the admin). */
  reach(host: string | null, args: readonly string[]): Promise<ExecResult>;
}

interface Case extends Probe {
  readonly from: string;
  readonly to: string;
  readonly allowed: boolean;
  /** Not allowed, and the source's own firewall decides: it has a route, and a restricted output. */
  readonly refusedAtSource: boolean;
}

export interface MatrixResult {
  readonly pairs: number;
  readonly seconds: number;
  /** "allowed open" → count, "denied refused" → count, ... */
  readonly tally: ReadonlyMap<string, number>;
}

/**
 * Runs the matrix and asserts it (every outcome as expected, each server's refusals counted, every
 * flow of the model among the pairs tried); resolves to its figures, also given as a diagnostic.
 */
export async function checkMatrix(
  site: MatrixSite,
  t: TestContext,
  boundSeconds: number,
): Promise<MatrixResult> {
  const { ctx } = site;
  const model = ctx.model;

  /** This machine and the hosts that stand for the internet send anything; servers do not. */
  const restrictedSource = (from: string): boolean => {
    const host = findHost(model, from);
    return host !== undefined && !standsForInternet(host);
  };

  /**
   * Each server's routes (`ip route` there): whether it has one to an address decides how a pair
   * its firewall denies fails. The model's addresses do not say (a test machine may have a link
   * to a network where the model gives it no address).
   */
  const routes = new Map(
    await Promise.all(
      model.hosts
        .filter((h) => restrictedSource(h.name))
        .map(async (h) => {
          const shown = await ctx.driver.exec(h.name, ip.routeList(), { check: false });
          assert.equal(shown.exitCode, 0, `${h.name}: ip route: ${shown.stderr}`);
          const dsts = (JSON.parse(shown.stdout) as { dst: string }[]).map((r) => r.dst);
          return [h.name, dsts] as const;
        }),
    ),
  );
  const routed = (from: string, address: string): boolean =>
    (routes.get(from) ?? []).some((dst) => {
      if (dst === 'default') return true;
      const subnet = routeSubnet(dst);
      return subnet !== undefined && subnetContains(subnet, address);
    });

  /** Every probe: each source (hosts, and this machine as "admin") to each address of each other host. */
  const cases = (): Case[] => {
    const flows = concreteFlows(model);
    const ports = [...new Set(PORT_NAMES.map((name) => model.ports[name]))].map((port) => ({
      port,
      proto: 'tcp' as const,
    }));
    const targets = [...ports, { port: model.ports.dns, proto: 'udp' as const }];
    const sources = ['admin', ...model.hosts.map((h) => h.name)];
    const result: Case[] = [];
    for (const from of sources) {
      for (const to of model.hosts) {
        if (to.name === from) continue;
        for (const network of NETWORKS) {
          const address = to.addresses[network];
          if (address === undefined) continue;
          // This machine joins the networks it has an address on (the lab: the edge only); a
          // core address would leave by its default route.
          if (from === 'admin' && model.admin[network] === undefined) continue;
          for (const { port, proto } of targets) {
            const allowed = flows.some(
              (f) =>
                f.from === from &&
                f.to === to.name &&
                f.address === address &&
                f.port === port &&
                f.proto === proto,
            );
            const refusedAtSource = !allowed && restrictedSource(from) && routed(from, address);
            result.push({ from, to: to.name, address, port, proto, allowed, refusedAtSource });
          }
        }
      }
    }
    return result;
  };

  /** What listens on each host now (from ss), so an allowed flow can be told to connect or be refused. */
  const listening = async (): Promise<Set<string>> => {
    const found = new Set<string>();
    await Promise.all(
      model.hosts.map(async (host) => {
        const result = await ctx.driver.exec(
          host.name,
          { argv: ['ss', '-Hlntu'], timeoutMs: 30_000 },
          { check: false },
        );
        for (const line of result.stdout.split('\n')) {
          const [proto, , , , local] = line.trim().split(/\s+/);
          const cut = local?.lastIndexOf(':') ?? -1;
          if (proto === undefined || local === undefined || cut < 0) continue;
          const ip = local.slice(0, cut);
          const port = local.slice(cut + 1);
          for (const address of Object.values(host.addresses)) {
            if (ip === address || ip === '0.0.0.0' || ip === '*' || ip === '[::]')
              found.add(`${host.name} ${address} ${port}/${proto}`);
          }
        }
      }),
    );
    return found;
  };

  /** The output_refused counter of each host. */
  const refusedCounts = async (hosts: readonly string[]): Promise<Map<string, number>> => {
    const counts = await Promise.all(
      hosts.map(async (host) => {
        const count = await droppedPackets(ctx, host, 'output');
        assert.ok(count !== undefined, `${host}: no output_refused counter`);
        return [host, count] as const;
      }),
    );
    return new Map(counts);
  };

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
      const result = await site.reach(from === 'admin' ? null : from, [
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
  assert.ok(seconds < boundSeconds, `the matrix took ${seconds} s`);
  return { pairs: outcomes.size, seconds, tally };
}
