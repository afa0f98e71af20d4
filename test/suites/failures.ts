/**
 * Web servers dying under load: users must not notice, the load balancers must, and `foobar up`
 * must heal it.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { hostsWithRole } from '../../src/model/model.ts';
import { backendServers } from '../../src/probes/haproxy.ts';
import { killDaemon, runningPid, type Daemon } from '../../src/steps/daemon.ts';
import { runPlan } from '../../src/steps/plan.ts';
import { webDaemons } from '../../src/steps/services.ts';
import { sleep, waitFor } from '../../src/lib/wait.ts';
import { upPlan } from '../../src/steps/up.ts';
import type { VisitSummary } from '../../src/load/visits.ts';
import { assertCleanVisits, type TestLab } from '../support/lab.ts';

/** Visitors at once, each with one request in flight at most. */
const VISITORS = 6;

export function failureSuite(lab: TestLab): void {
  const lb = hostsWithRole(lab.model, 'lb')[0];
  const web = lab.host('web-01');

  async function statusOn(lbName: string, server: string): Promise<string> {
    const servers = await backendServers(lab.ctx, lbName);
    if ('error' in servers) return servers.error;
    return servers.find((s) => s.name === server)?.status ?? 'missing';
  }

  async function killUnderLoad(daemon: Daemon, t: TestContext): Promise<void> {
    assert.ok(lb);
    // Visitors through DNS and HTTPS: pages, their assets and writes, until detection is over.
    const visitors = lab.visits(120, VISITORS);
    await visitors.ready();
    await sleep(500);
    const killedAt = Date.now();
    const killed = await killDaemon(lab.ctx, daemon);
    assert.ok(killed !== undefined, `${daemon.service} was running`);
    // Every load balancer notices within its health-check budget (measured ~1.5 s; a bound here).
    const noticed: Record<string, number> = {};
    let summary: VisitSummary;
    try {
      for (const each of hostsWithRole(lab.model, 'lb')) {
        await waitFor(
          `${each.name} marks ${web.name} down`,
          async () =>
            (await statusOn(each.name, web.name)).startsWith('DOWN') ? undefined : 'still up',
          { timeoutMs: 10_000, intervalMs: 20, maxIntervalMs: 20 },
        );
        noticed[each.name] = Date.now() - killedAt;
      }
      // Past detection: requests that were already queued for it land too, and enough come after
      // it (all on the other server) that the visits count does not hang on how fast the load
      // balancers noticed (2 s and 3 s once, and 47 pages where 50 are asked for at load 15).
      await sleep(3000);
    } finally {
      summary = await visitors.stop();
    }
    t.diagnostic(
      JSON.stringify({
        killed: daemon.service,
        msToDown: noticed,
        visitsFrom: summary.startedAt - killedAt,
        visitsUntil: summary.endedAt - killedAt,
        kinds: summary.kinds,
        failures: summary.failures.map((f) => `${f.at - killedAt} ms ${f.kind} ${f.answer}`),
      }),
    );
    // A write in flight on the killed process gets 502 or its connection closed (it may have
    // run: never retried); one per visitor at most. Every other request is served, writes included (Nginx's 425).
    assertCleanVisits(summary, 50, VISITORS);
    assert.ok(summary.startedAt < killedAt, 'visitors came before the kill');
    const detected = Math.max(...Object.values(noticed));
    assert.ok(summary.endedAt > killedAt + detected, 'visitors came until detection was over');
    assert.ok((summary.servedBy['web-02'] ?? 0) > 0);
  }

  async function heal(daemon: Daemon): Promise<void> {
    await runPlan(upPlan(lab.ctx));
    assert.ok((await runningPid(lab.ctx, daemon)) !== undefined, `${daemon.service} runs again`);
    for (const each of hostsWithRole(lab.model, 'lb'))
      assert.equal(await statusOn(each.name, web.name), 'UP');
    // Through DNS and HTTPS, as users come, both load balancers get a share.
    const after = await lab.visitKinds({ seconds: 1, kinds: ['whoami'] }).done();
    assert.equal(after.failed, 0, JSON.stringify(after.kinds.whoami));
    assert.ok((after.servedBy[web.name] ?? 0) > 0, `${web.name} serves again`);
  }

  describe('a web server failing under load', () => {
    it('killing its app costs no page, asset or write but those in flight on it, the load balancers mark it down, and up heals it', async (t) => {
      const daemon = (await webDaemons(lab.ctx, web)).app;
      await killUnderLoad(daemon, t);
      await heal(daemon);
    });

    it('killing its Nginx costs no page, asset or write but those in flight on it, the load balancers mark it down, and up heals it', async (t) => {
      const daemon = (await webDaemons(lab.ctx, web)).nginx;
      await killUnderLoad(daemon, t);
      await heal(daemon);
    });
  });
}
