/**
 * The edge without a single point of failure, under load from new visitors (a new connection and
 * name lookup per request, the next address only when one refuses, as curl and browsers do): a load balancer's
 * HAProxy or host dying moves its virtual address to the other one within a second, the address
 * goes back once when it is healed; a DNS server dying or going silent costs no lookup.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { dig } from '../../src/commands/dig.ts';
import { files } from '../../src/commands/files.ts';
import { killService, restoreHost, silenceHost } from '../../src/faults/inject.ts';
import { sleep, waitFor } from '../../src/lib/wait.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { siteAddresses, type Host } from '../../src/model/model.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { describeHoldings, virtualAddressHolders } from '../../src/probes/vrrp.ts';
import { instanceName, keepalivedFiles } from '../../src/render/keepalived/index.ts';
import { runPlan } from '../../src/steps/plan.ts';
import { upPlan } from '../../src/steps/up.ts';
import type { KindCounts } from '../../src/load/visits.ts';
import type { RunningVisits, TestLab } from '../support/lab.ts';

/** A request slower than this counts as failed (a visitor gives up, or sees a spinner). */
const REQUEST_TIMEOUT_MS = 5000;
/** New visitors at once in the fault tests. */
const LOAD_CONCURRENCY = 8;
/**
 * From the start of the fault's injection (which itself takes up to 1.5 s on a busy machine) to
 * lb-02's edge having the address: measured 1.15–1.2 s, injection included (docs/decisions.md).
 */
const TAKEOVER_BOUND_MS = 4000;
/** After healing, the owner takes its address back within rise + preempt delay (~3–4 s). */
const GIVE_BACK_BOUND_MS = 15_000;

export function edgeHaSuite(lab: TestLab): void {
  const model = lab.model;
  const [lb1, lb2] = [lab.host('lb-01'), lab.host('lb-02')];
  const vip = model.vrrp.virtualAddresses.find((v) => v.owner === lb1.name);
  const url = siteUrl(model);
  const www = `www.${model.domain}`;

  async function holdersOf(address: string): Promise<readonly string[]> {
    const all = await virtualAddressHolders(lab.ctx);
    return all.find((h) => h.address === address)?.holders ?? [];
  }

  async function settled(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      'every virtual address with its owner',
      async () => describeHoldings(await virtualAddressHolders(lab.ctx)) || undefined,
      { timeoutMs, intervalMs: 50, maxIntervalMs: 200 },
    );
  }

  /** Milliseconds from `since` until `address` is held by `host` alone. */
  async function heldBy(address: string, host: Host, since: number, timeoutMs: number) {
    await waitFor(
      `${address} held by ${host.name} alone`,
      async () => {
        const holders = await holdersOf(address);
        return holders.length === 1 && holders[0] === host.name
          ? undefined
          : `held by ${holders.join(', ') || 'nobody'}`;
      },
      { timeoutMs, intervalMs: 10, maxIntervalMs: 10 },
    );
    return Date.now() - since;
  }

  /**
   * Watches a host's edge addresses for `ms` (iproute2 stamps each change with its time here):
   * resolves to when `address` was added, if it was.
   */
  async function addedAt(host: Host, address: string, ms: number): Promise<number | undefined> {
    const watch = await lab.on(
      host.name,
      ['ip', '-tshort', 'monitor', 'address', 'dev', 'edge'],
      ms,
    );
    for (const line of watch.stdout.split('\n')) {
      const match = /^\[(\S+?)(\d{3})?\] \d+: \S+\s+inet (\S+)\//.exec(line);
      if (match?.[1] !== undefined && match[3] === address) return new Date(match[1]).getTime();
    }
    return undefined;
  }

  function logOf(host: Host): string {
    return keepalivedFiles(hostPaths(model, host.name)).log;
  }

  async function logSize(host: Host): Promise<number> {
    const result = await lab.on(host.name, files.size(logOf(host)).argv);
    return Number(result.stdout.trim());
  }

  /** How often keepalived on `host` logged the instance entering `state` since `offset`. */
  async function transitions(host: Host, offset: number, state: string): Promise<number> {
    assert.ok(vip);
    const text = (await lab.on(host.name, files.from(logOf(host), offset).argv)).stdout;
    return text
      .split('\n')
      .filter((line) => line.includes(`(${instanceName(vip)}) Entering ${state} STATE`)).length;
  }

  /**
   * A load balancer that dies takes the connections open on it along: its kernel (a killed
   * HAProxy) or the survivor (which never heard of them, once it holds the address) resets them.
   * Those requests, at most one per concurrent visitor, are the only ones allowed to fail, and
   * only so; every visitor who comes after is served. A silent host resets nothing: a request
   * it had acknowledged whole gets no answer and no reset (the client sends nothing more that
   * the survivor could refuse), so there the visitor's timeout ends it too.
   */
  function assertOnlyInFlightCut(during: KindCounts, silent = false): void {
    const cut = (during.errors.ECONNRESET ?? 0) + (silent ? (during.errors.ETIMEDOUT ?? 0) : 0);
    assert.equal(during.requests - during.ok, cut, `only cut ones: ${JSON.stringify(during)}`);
    assert.ok(cut <= LOAD_CONCURRENCY, `${cut} cut, more than were in flight at once`);
  }

  /** New visitors asking for the home page, through DNS, for `seconds`. */
  function freshVisitors(seconds: number): RunningVisits {
    return lab.visitKinds({
      seconds,
      kinds: ['page'],
      connections: 'fresh',
      visitors: LOAD_CONCURRENCY,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
  }

  /** What new visitors saw of the home page in `seconds`. */
  async function freshLoad(seconds: number): Promise<KindCounts> {
    return (await freshVisitors(seconds).done()).kinds.page;
  }

  /**
   * Under a load of new visitors through DNS: inject the fault, measure how long until lb-02
   * holds lb-01's address, heal, and check the address went back once and the site is whole.
   */
  async function moveAndBack(
    t: TestContext,
    fault: () => Promise<void>,
    heal: () => Promise<void>,
  ): Promise<KindCounts> {
    assert.ok(vip);
    await settled();
    const visitors = freshVisitors(8);
    // Visitors are coming (a Node process may take seconds to start on a busy machine).
    await visitors.ready();
    await sleep(1000);
    const watch = addedAt(lb2, vip.address, 5000);
    await sleep(200);
    const injected = Date.now();
    await fault();
    const faultMs = Date.now() - injected;
    // Polled through `ip netns exec` on a busy machine: an upper bound, the watch is exact.
    const polledMs = await heldBy(vip.address, lb2, injected, 10_000);
    const added = await watch;
    assert.ok(added !== undefined, `lb-02's edge got ${vip.address} while watched`);
    const takeoverMs = added - injected;
    const during = (await visitors.done()).kinds.page;
    const [offset1, offset2] = [await logSize(lb1), await logSize(lb2)];
    const healed = Date.now();
    await heal();
    const backMs = await heldBy(vip.address, lb1, healed, GIVE_BACK_BOUND_MS);
    // Watch a while longer: a flapping address would move again.
    await sleep(4000);
    await settled(1000);
    const [owned, yielded] = [
      await transitions(lb1, offset1, 'MASTER'),
      await transitions(lb2, offset2, 'BACKUP'),
    ];
    const after = await freshLoad(2);
    t.diagnostic(
      JSON.stringify({
        takeoverMs,
        faultMs,
        polledMs,
        backMs,
        requests: during.requests,
        failed: during.requests - during.ok,
        errors: during.errors,
        statuses: during.statuses,
        lb01BecameMaster: owned,
        lb02BecameBackup: yielded,
      }),
    );
    assert.ok(takeoverMs <= TAKEOVER_BOUND_MS, `lb-02 held ${vip.address} after ${takeoverMs} ms`);
    assert.ok(during.requests > 50, `the load ran (${during.requests} requests)`);
    assert.equal(owned, 1, 'lb-01 took its address back exactly once');
    assert.equal(yielded, 1, 'lb-02 gave it up exactly once');
    assert.equal(after.requests - after.ok, 0, `after healing: ${JSON.stringify(after)}`);
    assert.ok(after.requests > 10);
    return during;
  }

  async function resolve(): Promise<{ addresses: string[]; ms: number }> {
    const started = Date.now();
    // No server named: dig asks the client's resolv.conf servers, with its options.
    const result = await lab.on('client', ['dig', '+short', www, 'A'], 15_000);
    assert.equal(result.exitCode, 0, result.stderr + result.stdout);
    // dig reports a server that failed it on lines of its own (";; communications error ...").
    const lines = result.stdout.trim().split('\n');
    return {
      addresses: lines.filter((line) => !line.startsWith(';;')).sort(),
      ms: Date.now() - started,
    };
  }

  async function fetchSite(): Promise<{ status: string; ms: number }> {
    const started = Date.now();
    const result = await lab.on(
      'client',
      ['curl', '-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', ...lab.siteFlags(), url],
      15_000,
    );
    return { status: result.stdout.trim() || result.stderr.trim(), ms: Date.now() - started };
  }

  /** With one DNS server out: names resolve through the other, and the site loads, a few times. */
  async function resolvesWithout(t: TestContext, what: string): Promise<void> {
    const lookups: number[] = [];
    const fetches: number[] = [];
    for (let i = 0; i < 4; i++) {
      const answer = await resolve();
      assert.deepEqual(answer.addresses, siteAddresses(model).sort(), what);
      lookups.push(answer.ms);
      const site = await fetchSite();
      assert.equal(site.status, '200', what);
      fetches.push(site.ms);
    }
    const load = await freshLoad(3);
    t.diagnostic(
      JSON.stringify({
        without: what,
        digMs: lookups,
        curlMs: fetches,
        requests: load.requests,
        failed: load.requests - load.ok,
      }),
    );
    assert.equal(load.requests - load.ok, 0, JSON.stringify(load));
    // dig keeps its own timers (measured 2.4–2.8 s with a silent server, 0.5–1.5 s with a
    // refusing one); the site's own lookups (curl, the load) go through glibc's 1 s timeout.
    assert.ok(Math.max(...lookups) < 9000, `lookups took ${lookups.join(', ')} ms`);
  }

  describe('the edge without a single point of failure', () => {
    it('each virtual address is held by its own load balancer, and both answer HTTPS', async () => {
      await settled();
      for (const address of siteAddresses(model)) {
        const result = await lab.on('client', [
          'curl',
          '-sS',
          '-m',
          '5',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          ...lab.siteFlags(),
          '--resolve',
          `${www}:${model.ports.https}:${address}`,
          url,
        ]);
        assert.equal(result.stdout, '200', `${address}: ${result.stderr}`);
      }
      const status = JSON.parse((await lab.cli('status', '--json')).stdout) as {
        virtualAddresses: { address: string; owner: string; holders: string[] }[];
      };
      assert.deepEqual(
        status.virtualAddresses,
        model.vrrp.virtualAddresses.map((v) => ({
          address: v.address,
          owner: v.owner,
          holders: [v.owner],
        })),
      );
    });

    it('lb-01’s HAProxy killed: lb-02 holds its address within a second, no visitor fails but those in flight on it, and up gives it back once', async (t) => {
      const during = await moveAndBack(
        t,
        async () => {
          await killService(lab.ctx, lb1, 'haproxy');
        },
        () => runPlan(upPlan(lab.ctx)),
      );
      assertOnlyInFlightCut(during);
    });

    it('lb-01’s host silenced: lb-02 holds its address within a second, no visitor fails but those in flight on it, and it goes back once restored', async (t) => {
      const during = await moveAndBack(
        t,
        () => silenceHost(lab.ctx, lb1),
        () => restoreHost(lab.ctx, lb1),
      );
      assertOnlyInFlightCut(during, true);
    });

    it('the dns host’s NSD killed: the client still resolves the site and loads it; up heals', async (t) => {
      await killService(lab.ctx, lab.host('dns'), 'nsd');
      try {
        await resolvesWithout(t, 'NSD killed on dns');
      } finally {
        await runPlan(upPlan(lab.ctx));
      }
      const answer = await lab.on(
        'client',
        dig.query(lab.host('dns').addresses.edge ?? '', www, 'A', { short: true }).argv,
      );
      assert.equal(answer.exitCode, 0, 'dns answers again');
    });

    it('the dns host silenced: the client still resolves the site and loads it', async (t) => {
      const dns = lab.host('dns');
      await silenceHost(lab.ctx, dns);
      try {
        await resolvesWithout(t, 'dns silenced');
      } finally {
        await restoreHost(lab.ctx, dns);
      }
    });
  });
}
