/**
 * Automatic database failover through real faults under a load of readers and writers: the
 * primary's process killed, its host silenced at the switch, one observer cut off alone, a second
 * failure inside the anti-flap period, etcd's quorum lost. Every acknowledged write is counted at
 * the database; timings are reported.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import {
  healPartition,
  killService,
  partition,
  restoreHost,
  silenceHost,
} from '../../src/faults/inject.ts';
import { sleep, waitFor } from '../../src/lib/wait.ts';
import { startVisitors } from '../../src/drill/load.ts';
import { summarizeVisits } from '../../src/load/visits.ts';
import { dbHosts } from '../../src/model/database.ts';
import { failoverMembers } from '../../src/model/failover.ts';
import { hostsWithRole } from '../../src/model/model.ts';
import { prometheusAlerts } from '../../src/probes/prometheus.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { readAudit } from '../../src/steps/audit.ts';
import { ensureDaemon } from '../../src/steps/daemon.ts';
import type { ChangeReport } from '../../src/steps/db/changes.ts';
import { readDbState, type DbState } from '../../src/steps/db/state.ts';
import type { DbStatus } from '../../src/steps/db/status.ts';
import { etcdDaemon } from '../../src/steps/failover.ts';
import { mariadbDaemon } from '../../src/steps/services.ts';
import {
  assertEveryAckedOnce,
  assertNoStrayRows,
  assertUpRestartsNoServer,
  firstWriteAfter,
  sql,
  sqlAs,
  writesAround,
} from '../support/db.ts';
import { postFromClient } from '../support/http.ts';
import type { TestLab } from '../support/lab.ts';

/**
 * Kill → writes back, as a bound for "it happens": three times the 8 s measured at load average
 * 15–20 (3 s on a quieter machine, 9.5 s once at 37–77). The goal of 3 s is the drill's figure.
 */
const WRITES_BACK_BOUND_MS = 25_000;
/** How long "no promotion" is watched: 3x the slowest automatic promotion measured here. */
const NO_PROMOTION_WATCH_MS = 9000;

export function failoverSuite(lab: TestLab): void {
  const url = (pathname: string): string => `${siteUrl(lab.model)}${pathname.slice(1)}`;
  const messages = url('/api/messages');
  const [lb1] = hostsWithRole(lab.model, 'lb');
  const webs = hostsWithRole(lab.model, 'web');

  async function cli<T>(...args: string[]): Promise<T> {
    const result = await lab.cli(...args, '--json');
    const ok = args[1] === 'status' ? [0, 1, 2] : [0];
    assert.ok(ok.includes(result.exitCode), `foobar ${args.join(' ')}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  }

  async function run(...args: string[]): Promise<void> {
    const result = await lab.cli(...args);
    assert.equal(result.exitCode, 0, `foobar ${args.join(' ')}: ${result.stderr}${result.stdout}`);
  }

  /** Resolves once the lab's database state names another primary than `old`. */
  async function promotedFrom(old: string, timeoutMs = 30_000): Promise<DbState> {
    let state: DbState | undefined;
    await waitFor(
      `a primary other than ${old}`,
      async () => {
        state = await readDbState(lab.ctx);
        return state.primary === old ? `still ${old}` : undefined;
      },
      { timeoutMs, intervalMs: 50 },
    );
    if (state === undefined) throw new Error('no state');
    return state;
  }

  /** A fenced former primary back as a replica (`--reseed` if it committed what no one acknowledged). */
  async function rejoin(host: string): Promise<string> {
    const plain = await lab.cli('db', 'rejoin', host);
    if (plain.exitCode === 0) return 'rejoined';
    assert.match(plain.stderr, /--reseed/, plain.stderr);
    await run('db', 'rejoin', host, '--reseed');
    return 'reseeded';
  }

  async function write(text: string): Promise<number> {
    const response = await postFromClient(lab, messages, text, lab.siteFlags(lb1));
    return response.status;
  }

  /** Whether Prometheus has the AutomaticFailover alert firing, once it agrees with `want`. */
  async function automaticFailoverAlert(want: boolean): Promise<number> {
    const started = Date.now();
    await waitFor(
      `AutomaticFailover ${want ? 'firing' : 'resolved'}`,
      async () => {
        const alerts = await prometheusAlerts(lab.ctx);
        if ('error' in alerts) return alerts.error;
        const firing = alerts.some((a) => a.name === 'AutomaticFailover' && a.state === 'firing');
        return firing === want ? undefined : JSON.stringify(alerts.map((a) => a.name));
      },
      { timeoutMs: 45_000, intervalMs: 500 },
    );
    return Date.now() - started;
  }

  function report(t: TestContext, figures: Record<string, unknown>): void {
    t.diagnostic(JSON.stringify(figures));
  }

  /** A fault under load: writers and readers from the client; checks every acknowledged write. */
  async function failUnderLoad(
    t: TestContext,
    prefix: string,
    inject: (primary: string) => Promise<void>,
  ): Promise<{ old: string; next: DbState; at: number; writesBackMs: number }> {
    const before = await readDbState(lab.ctx);
    const old = before.primary;
    // Readers and writers until 3 s after the new primary is known, however long that takes.
    const reads = startVisitors(lab.ctx, {
      seconds: 180,
      prefix: `${prefix}-reads`,
      kinds: ['read'],
      visitors: 4,
      intervalMs: 0,
      connections: 'kept',
    });
    reads.report.catch(() => undefined);
    // Read-only visitors write no ready file: the writers' first acknowledged write and the lead
    // after it give the readers time to start too (they must have read: asserted below).
    const around = await writesAround(
      lab,
      prefix,
      async () => {
        const at = Date.now();
        await inject(old);
        const next = await promotedFrom(old);
        return { at, next, promotedAt: Date.now() };
      },
      { leadMs: 3000 },
    ).finally(() => reads.stop());
    const readSummary = summarizeVisits(await reads.report).kinds.read;
    const { at, next, promotedAt } = around.result;
    const summary = around.writes;
    const detectedMs = promotedAt - at;
    // Reads never needed the primary: not one failed while it changed.
    assert.ok(
      readSummary.requests > 0 && readSummary.ok > 0,
      `the readers read: ${JSON.stringify(readSummary)}`,
    );
    assert.deepEqual(readSummary.statuses, { '200': readSummary.requests }, 'every read served');
    assert.equal(next.epoch, before.epoch + 1);
    assert.deepEqual(next.fenced, [old]);
    const writesBackMs = firstWriteAfter(summary, at, next.primary);
    const rows = await assertEveryAckedOnce(lab, next.primary, prefix, summary);
    // A write whose connection died with the primary may have committed: never twice.
    assertNoStrayRows(rows, summary);
    // No split brain: the old primary acknowledged nothing once the new epoch was in force (what
    // it acknowledged while the fault took hold is on the new primary: checked above).
    const late = summary.acked.filter((a) => a.db === old && a.at > promotedAt);
    assert.deepEqual(late, [], `${old} acknowledged writes after the new epoch`);
    const audit = (await readAudit(lab.ctx)).filter(
      (e) => e.action === 'automatic failover' && Date.parse(e.time) >= at,
    );
    assert.deepEqual(
      audit.map((e) => [e.host, e.previous, e.outcome]),
      [[next.primary, old, 'succeeded']],
    );
    report(t, {
      fault: prefix,
      faultToWritesBackMs: writesBackMs,
      faultToNewTopologyMs: detectedMs,
      writesAcked: summary.acked.length,
      writeFailures: summary.failures,
      reads: readSummary.requests,
      readFailures: readSummary.requests - readSummary.ok,
      manager: audit[0]?.detail,
    });
    return { old, next, at, writesBackMs };
  }

  /** Asserted last, once the lab is whole again, so a slow machine fails this test alone. */
  function assertWritesBackInTime(writesBackMs: number): void {
    assert.ok(
      writesBackMs <= WRITES_BACK_BOUND_MS,
      `writes came back ${writesBackMs} ms after the fault (bound ${WRITES_BACK_BOUND_MS} ms)`,
    );
  }

  describe('automatic database failover', () => {
    it('three etcd members, one leading manager, armed, every observer reaching the primary', async () => {
      await waitFor(
        'the managers armed and observing',
        async () => {
          const status = await cli<DbStatus>('db', 'status');
          const f = status.failover;
          if (!f.etcd || !f.armed) return f.pausedBecause;
          return f.observers.filter((o) => o.reachable).length === 3
            ? undefined
            : JSON.stringify(f.observers);
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      );
      const { failover } = await cli<DbStatus>('db', 'status');
      const members = failoverMembers(lab.model).map((h) => h.name);
      assert.deepEqual(
        failover.members.map((m) => [m.name, m.healthy]),
        members.map((m) => [m, true]),
      );
      assert.ok(failover.leader !== null && members.includes(failover.leader));
      assert.deepEqual(failover.topology?.primary, (await readDbState(lab.ctx)).primary);
    });

    it('SIGKILL of the primary under load: a replica takes over with nobody at the keyboard, no acknowledged write lost', async (t) => {
      const { old, next, writesBackMs } = await failUnderLoad(t, 'auto-kill', async (primary) => {
        await killService(lab.ctx, lab.host(primary), 'mariadb');
      });
      const status = await cli<DbStatus>('db', 'status');
      assert.deepEqual(
        [status.primary, status.fenced.map((f) => f.name), status.failover.lastAutomatic?.from],
        [next.primary, [old], old],
      );
      assert.equal(await write(`after automatic failover ${Date.now()}`), 201);
      // Every automatic action fires an alert (it stays until resumed: see the anti-flap test).
      report(t, { alertFiringAfterMs: await automaticFailoverAlert(true) });
      assertWritesBackInTime(writesBackMs);
    });

    it('the killed primary comes back as a replica with foobar db rejoin', async (t) => {
      const state = await readDbState(lab.ctx);
      const [fenced] = state.fenced;
      assert.ok(fenced !== undefined);
      report(t, { rejoin: await rejoin(fenced) });
      const status = await cli<DbStatus>('db', 'status');
      assert.deepEqual(
        [status.health, status.fenced, status.replicas.map((r) => [r.name, r.source])],
        ['healthy', [], [[fenced, state.primary]]],
      );
      // The managers' promotion rewrote the new primary's record of its start: up restarts it not.
      await assertUpRestartsNoServer(lab);
    });

    it('anti-flap: a second failure inside the period is not failed over, and db status says why; the server restarted read-only is opened for writes by the managers; a manual promote still works', async (t) => {
      const state = await readDbState(lab.ctx);
      const at = Date.now();
      await killService(lab.ctx, lab.host(state.primary), 'mariadb');
      await sleep(NO_PROMOTION_WATCH_MS);
      assert.equal((await readDbState(lab.ctx)).epoch, state.epoch, 'no automatic promotion');
      const status = await cli<DbStatus>('db', 'status');
      assert.equal(status.failover.armed, false);
      assert.match(status.failover.pausedBecause, /anti-flap/);
      const refused = (await readAudit(lab.ctx)).filter(
        (e) => e.action === 'failover refused' && Date.parse(e.time) >= at,
      );
      assert.ok(refused.length > 0, 'the refusal is in the audit log');
      assert.match(refused[0]?.detail ?? '', /anti-flap/);
      // Its server starts again, as its machine's boot would start it: read-only, as every
      // server starts. The managers open it for writes, with nobody at the keyboard.
      const restartedAt = Date.now();
      await ensureDaemon(lab.ctx, mariadbDaemon(lab.ctx, lab.host(state.primary), state));
      // Read-only as it starts: asked at once, but a manager may have opened it already (its
      // semi-sync read every second sees read_only, its next round opens it), so what proves it
      // is the managers' audit line below (what they found, and that they opened it).
      const [[readOnlyAfterStart] = []] = await sql(lab, state.primary, 'SELECT @@read_only');
      let answered = 0;
      await waitFor(
        `a visitor's write acknowledged by ${state.primary} restarted`,
        async () => {
          answered = await write(`after its restart ${Date.now()}`);
          return answered === 201 ? undefined : `the write answered ${answered}`;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      const writableMs = Date.now() - restartedAt;
      // The audit line follows the opening (written once the lock is released).
      let since: Awaited<ReturnType<typeof readAudit>> = [];
      const reopened = (): typeof since => since.filter((e) => e.action === 'primary reopened');
      await waitFor(
        'the managers’ audit line',
        async () => {
          since = (await readAudit(lab.ctx)).filter((e) => Date.parse(e.time) >= restartedAt);
          return reopened().length > 0 ? undefined : JSON.stringify(since);
        },
        { timeoutMs: 15_000, intervalMs: 250 },
      ).catch(() => undefined);
      const evidence = `audit since ${JSON.stringify(since)}, SELECT @@read_only after the start: ${readOnlyAfterStart}, db status ${JSON.stringify(await cli<DbStatus>('db', 'status'))}`;
      assert.deepEqual(
        reopened().map((e) => [e.host, e.outcome]),
        [[state.primary, 'succeeded']],
        `only the managers opened it, once: ${evidence}`,
      );
      assert.match(
        reopened()[0]?.detail ?? '',
        /answered read-only \(its server restarted\)/,
        `it started read-only: ${evidence}`,
      );
      assert.equal((await readDbState(lab.ctx)).epoch, state.epoch, 'still no change of primary');
      report(t, {
        restartToFirstWriteMs: writableMs,
        readOnlyAfterStart,
        reopened: reopened()[0]?.detail,
      });
      // Gone again, for the manual promote.
      await killService(lab.ctx, lab.host(state.primary), 'mariadb');
      const [replica] = dbHosts(lab.model).filter((h) => h.name !== state.primary);
      assert.ok(replica !== undefined);
      const change = await cli<ChangeReport>('db', 'promote', replica.name);
      assert.equal(change.primary, replica.name);
      report(t, { refusal: refused[0]?.detail, manualPromoteMs: change.totalMs });
      await rejoin(state.primary);
      await run('db', 'failover', 'resume');
      // The operator has looked: the alert resolves.
      report(t, { alertResolvedAfterResumeMs: await automaticFailoverAlert(false) });
      await waitFor(
        'automatic failover armed again',
        async () => {
          const f = (await cli<DbStatus>('db', 'status')).failover;
          return f.armed ? undefined : f.pausedBecause;
        },
        { timeoutMs: 10_000, intervalMs: 500 },
      );
    });

    it('the primary’s host silenced at the switch: promoted automatically, and the fenced old primary takes no write from any app', async (t) => {
      const silenced = (await readDbState(lab.ctx)).primary;
      let outcome: Awaited<ReturnType<typeof failUnderLoad>>;
      try {
        outcome = await failUnderLoad(t, 'auto-silence', async (primary) => {
          await silenceHost(lab.ctx, lab.host(primary));
        });
      } finally {
        await restoreHost(lab.ctx, lab.host(silenced));
      }
      const { old, writesBackMs } = outcome;
      // Whatever state it is in, no app can reach it: the web servers' firewalls refuse it.
      for (const web of webs) {
        const attempt = await sqlAs(
          lab,
          'app',
          web.name,
          old,
          "INSERT INTO foobar.messages (text) VALUES ('split brain')",
        );
        assert.notEqual(attempt.exitCode, 0, `${web.name} wrote to ${old}`);
        assert.match(attempt.stderr, /Can't connect|refused|Lost connection/, attempt.stderr);
      }
      report(t, { rejoin: await rejoin(old) });
      await run('db', 'failover', 'resume');
      assertWritesBackInTime(writesBackMs);
    });

    it('the primary cut off from the web servers only (the managers and replicas still reach it): promoted automatically, no acknowledged write lost', async (t) => {
      let outcome: Awaited<ReturnType<typeof failUnderLoad>>;
      try {
        outcome = await failUnderLoad(t, 'auto-partition', async (primary) => {
          await partition(lab.ctx, webs, [lab.host(primary)]);
        });
      } finally {
        await healPartition(lab.ctx, webs);
      }
      const { old, writesBackMs } = outcome;
      const action = (await readAudit(lab.ctx)).findLast((e) => e.action === 'automatic failover');
      assert.match(action?.detail ?? '', /every web server has failed to reach/);
      report(t, { rejoin: await rejoin(old) });
      await run('db', 'failover', 'resume');
      assertWritesBackInTime(writesBackMs);
    });

    it('one manager cut off from the databases alone: no promotion, and db status shows its view', async () => {
      const before = await readDbState(lab.ctx);
      const [member] = failoverMembers(lab.model);
      assert.ok(member !== undefined);
      await partition(lab.ctx, [member], dbHosts(lab.model));
      try {
        await waitFor(
          `${member.name} reports the primary unreachable`,
          async () => {
            const seen = (await cli<DbStatus>('db', 'status')).failover.observers;
            return seen.some((o) => o.manager === member.name && !o.reachable)
              ? undefined
              : JSON.stringify(seen);
          },
          { timeoutMs: 15_000, intervalMs: 500 },
        );
        await sleep(NO_PROMOTION_WATCH_MS);
        assert.equal((await readDbState(lab.ctx)).epoch, before.epoch, 'no promotion');
        assert.equal(await write(`during a partition ${Date.now()}`), 201);
      } finally {
        await healPartition(lab.ctx, [member]);
      }
    });

    it('etcd’s quorum lost: the site serves, automatic failover is paused and says so, manual promote works', async (t) => {
      const members = failoverMembers(lab.model).slice(0, 2);
      for (const member of members) await killService(lab.ctx, member, 'etcd');
      try {
        await waitFor(
          'db status reports no quorum',
          async () => {
            const f = (await cli<DbStatus>('db', 'status')).failover;
            return !f.etcd && f.pausedBecause.includes('quorum') ? undefined : f.pausedBecause;
          },
          { timeoutMs: 20_000, intervalMs: 500 },
        );
        assert.equal(await write(`without etcd ${Date.now()}`), 201);
        const state = await readDbState(lab.ctx);
        await killService(lab.ctx, lab.host(state.primary), 'mariadb');
        const [replica] = dbHosts(lab.model).filter((h) => h.name !== state.primary);
        assert.ok(replica !== undefined);
        await sleep(3000);
        assert.equal((await readDbState(lab.ctx)).epoch, state.epoch, 'nothing automatic');
        const change = await cli<ChangeReport>('db', 'promote', replica.name);
        assert.equal(change.primary, replica.name);
        assert.ok(change.notes.some((n) => n.includes('etcd not told')));
        assert.equal(await write(`promoted without etcd ${Date.now()}`), 201);
        report(t, { manualPromoteMs: change.totalMs });
        await rejoin(state.primary);
      } finally {
        for (const member of members) await ensureDaemon(lab.ctx, etcdDaemon(lab.ctx, member));
      }
      await waitFor(
        'quorum back, the managers following the manual epoch',
        async () => {
          const f = (await cli<DbStatus>('db', 'status')).failover;
          const state = await readDbState(lab.ctx);
          return f.etcd && f.armed && f.topology?.epoch === state.epoch
            ? undefined
            : `${f.pausedBecause} ${JSON.stringify(f.topology)}`;
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      );
    });

    it('ends as it began for the next suites: db-01 the primary, healthy', async () => {
      const state = await readDbState(lab.ctx);
      if (state.primary !== 'db-01') await run('db', 'switchover', '--to', 'db-01');
      const status = await cli<DbStatus>('db', 'status');
      assert.deepEqual([status.primary, status.health], ['db-01', 'healthy']);
    });
  });
}
