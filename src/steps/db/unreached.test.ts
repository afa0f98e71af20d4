/**
 * A change of primary with a web server that does not answer (a silent machine: every call to it
 * hangs): the promotion goes on without it within REACH_TIMEOUT_MS, takes it out of every load
 * balancer's rotation, says so and records it in database.json; once it answers again, a rejoin
 * first finishes what was owed (its firewall, its app's settings) and only then puts it back in
 * rotation.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import type { Driver } from '../../drivers/driver.ts';
import { RecordingDriver } from '../../drivers/recording.ts';
import { buildModel } from '../../model/build.ts';
import { simulatedBackups } from '../backup.ts';
import { createContext } from '../context.ts';
import { runPlan } from '../plan.ts';
import { upPlan } from '../up.ts';
import { allOf, simulatedKeepalived } from '../vrrp-simulate.ts';
import { healOwed, healUnreached, promoteReplica, REACH_TIMEOUT_MS, rejoin } from './changes.ts';
import { simulatedDatabases } from './simulate.ts';
import { readDbState } from './state.ts';
import { dbStatus } from './status.ts';

const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-unreached-test-'));
after(() => fs.rm(scratch, { recursive: true, force: true }));

/** `driver`, except that every call to a host in `silent` never returns (packets unanswered). */
function withSilentHosts(driver: Driver, silent: Set<string>): Driver {
  return new Proxy(driver, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const [host] = args;
        if (typeof host === 'string' && silent.has(host)) return new Promise(() => undefined);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** A site after `up` (simulated), its HAProxy runtime lines, and a switch that silences hosts. */
async function simulatedSite(dir: string) {
  const model = buildModel({ lab: { stateDir: path.join(dir, 'state') } });
  const rejoining = { on: false };
  const replicaRow =
    '<resultset statement=""><row><field name="Master_Host">db-02</field>' +
    '<field name="Slave_IO_Running">Yes</field><field name="Slave_SQL_Running">Yes</field>' +
    '<field name="Seconds_Behind_Master">0</field><field name="Using_Gtid">Slave_Pos</field></row></resultset>';
  const databases = allOf(
    simulatedDatabases(model),
    simulatedKeepalived(model),
    simulatedBackups(),
  );
  /** What HAProxy's runtime API was told, as `[host] line`. */
  const runtime: string[] = [];
  const recording = new RecordingDriver(
    (target, argv, input) =>
      argv[0] === 'socat'
        ? void runtime.push(`[${target ?? 'local'}] ${input?.trim() ?? ''}`)
        : rejoining.on && target === 'db-01' && input?.includes('SHOW SLAVE STATUS') === true
          ? { stdout: replicaRow, stderr: '', exitCode: 0 }
          : databases(target, argv, input),
    { simulate: true },
  );
  const silent = new Set<string>();
  const ctx = createContext(model, withSilentHosts(recording, silent));
  await runPlan(upPlan(ctx, { buildsDir: path.join(dir, 'builds') }));
  assert.equal(await healUnreached(ctx), 'up to date', 'nothing owed after up');
  return { ctx, recording, runtime, silent, rejoining };
}

it(
  'a forced promote goes on without a silent web server, takes it out of rotation and records it; rejoin heals it first',
  { timeout: 120_000 },
  async () => {
    const { ctx, recording, runtime, silent, rejoining } = await simulatedSite(
      path.join(scratch, 'rejoin'),
    );
    silent.add('web-01');
    const fromPromote = recording.calls.length;
    const runtimeFromPromote = runtime.length;
    const started = Date.now();
    const report = await promoteReplica(ctx, 'db-02', { force: true });
    const ms = Date.now() - started;
    assert.equal(report.primary, 'db-02');
    assert.ok(ms >= REACH_TIMEOUT_MS && ms < REACH_TIMEOUT_MS + 5000, `${ms} ms`);
    assert.ok(
      report.notes.some((n) =>
        n.startsWith(`web-01: firewall: no answer within ${REACH_TIMEOUT_MS} ms: out of every`),
      ),
      report.notes.join('\n'),
    );
    const promoting = recording.calls.slice(fromPromote);
    const told = runtime.slice(runtimeFromPromote);
    for (const lb of ['lb-01', 'lb-02']) {
      assert.ok(told.includes(`[${lb}] set server web/web-01 state maint`), told.join('\n'));
      assert.ok(told.includes(`[${lb}] shutdown sessions server web/web-01`), told.join('\n'));
    }
    // web-02 answered: it was told the new primary; nothing reached web-01.
    assert.ok(promoting.some((c) => c.startsWith('[web-02]') && c.includes('db.json')));
    assert.deepEqual(
      promoting.filter((c) => c.startsWith('[web-01]')),
      [],
    );
    const state = await readDbState(ctx);
    assert.deepEqual(state.unreached, ['web-01']);
    assert.deepEqual(state.fenced, ['db-01']);
    const status = await dbStatus(ctx);
    assert.deepEqual(status.unreached, ['web-01']);
    assert.ok(status.problems.some((p) => p.startsWith('web-01 could not be reached')));

    // Heard again: the rejoin tells web-01 first, and only then puts it back in rotation.
    silent.delete('web-01');
    rejoining.on = true;
    const fromRejoin = recording.calls.length;
    const runtimeFromRejoin = runtime.length;
    const rejoined = await rejoin(ctx, 'db-01');
    assert.equal(rejoined.steps[0]?.what, 'web-01 reached');
    // In order: web-01's app settings written, then web-01 back in each load balancer's rotation.
    const rejoiningCalls = recording.calls.slice(fromRejoin);
    const settings = rejoiningCalls.findIndex(
      (c) => c.startsWith('[web-01]') && c.includes('db.json'),
    );
    const socat = rejoiningCalls.findIndex((c) => c.includes('$ socat'));
    assert.ok(settings >= 0 && socat > settings, `settings at ${settings}, socat at ${socat}`);
    assert.deepEqual(runtime.slice(runtimeFromRejoin), [
      '[lb-01] set server web/web-01 state ready',
      '[lb-02] set server web/web-01 state ready',
    ]);
    assert.deepEqual((await readDbState(ctx)).unreached, []);
    assert.deepEqual((await dbStatus(ctx)).unreached, []);
  },
);

it(
  'the failover managers’ heal leaves a silent host owed within REACH_TIMEOUT_MS, and heals it once it answers',
  { timeout: 120_000 },
  async () => {
    const { ctx, runtime, silent } = await simulatedSite(path.join(scratch, 'managers'));
    silent.add('web-01');
    await promoteReplica(ctx, 'db-02', { force: true });
    assert.deepEqual((await readDbState(ctx)).unreached, ['web-01']);

    const started = Date.now();
    const still = await healOwed(ctx, { onlyAnswering: true });
    const ms = Date.now() - started;
    assert.ok(ms >= REACH_TIMEOUT_MS && ms < REACH_TIMEOUT_MS + 5000, `${ms} ms`);
    assert.deepEqual(still.healed, []);
    assert.deepEqual(
      still.left.map((l) => l.why),
      [`web-01: no-op command: no answer within ${REACH_TIMEOUT_MS} ms`],
    );
    assert.deepEqual((await readDbState(ctx)).unreached, ['web-01']);

    silent.delete('web-01');
    const runtimeFrom = runtime.length;
    const healed = await healOwed(ctx, { onlyAnswering: true });
    assert.deepEqual(healed.left, []);
    assert.equal(healed.healed.length, 1);
    assert.match(
      healed.healed[0] ?? '',
      /^web-01: firewall .*, app told the primary, back in rotation$/,
    );
    assert.deepEqual(runtime.slice(runtimeFrom), [
      '[lb-01] set server web/web-01 state ready',
      '[lb-02] set server web/web-01 state ready',
    ]);
    assert.deepEqual((await readDbState(ctx)).unreached, []);
  },
);
