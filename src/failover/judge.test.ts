import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_FAILOVER } from '../model/defaults.ts';
import { judge, type JudgeInput, type Observation } from './judge.ts';

const NOW = 1_000_000;
const seen = (manager: string, reachable: boolean, failingForMs = 0): Observation => ({
  manager,
  primary: 'db-01',
  epoch: 3,
  reachable,
  failingForMs,
  detail: reachable ? '' : 'connection refused',
  at: NOW - 100,
});
const input = (over: Partial<JudgeInput> = {}): JudgeInput => ({
  now: NOW,
  settings: DEFAULT_FAILOVER,
  members: 3,
  primary: 'db-01',
  epoch: 3,
  claimedEpoch: 3,
  observations: [seen('lb-01', false, 900), seen('lb-02', false, 900), seen('mon', true)],
  pause: undefined,
  lastAutomatic: undefined,
  rearmedAt: undefined,
  semiSyncActive: true,
  replicas: [{ name: 'db-02', hears: false, detail: 'I/O thread Connecting' }],
  ...over,
});

describe('judge', () => {
  it('promotes when a majority of managers lost the primary long enough and the replicas too', () => {
    const j = judge(input());
    assert.deepEqual([j.verdict, j.promote, j.armed], ['dead', true, true]);
  });

  it('never promotes on one observer’s opinion: a partitioned manager alone is suspect', () => {
    const j = judge(
      input({ observations: [seen('lb-01', false, 5000), seen('lb-02', true), seen('mon', true)] }),
    );
    assert.deepEqual([j.verdict, j.promote], ['suspect', false]);
  });

  it('waits for the confirmation time, and ignores stale observations and other epochs', () => {
    assert.equal(
      judge(input({ observations: [seen('lb-01', false, 100), seen('lb-02', false, 100)] }))
        .promote,
      false,
    );
    const stale = { ...seen('lb-02', false, 900), at: NOW - 60_000 };
    const old = { ...seen('mon', false, 900), epoch: 2 };
    assert.equal(
      judge(input({ observations: [seen('lb-01', false, 900), stale, old] })).verdict,
      'suspect',
    );
  });

  it('does not promote while a replica still hears the primary', () => {
    const j = judge(input({ replicas: [{ name: 'db-02', hears: true, detail: '' }] }));
    assert.deepEqual([j.verdict, j.promote], ['dead', false]);
    assert.match(j.reason, /db-02 still hear/);
  });

  it('refuses when a replica cannot be asked, or the primary had fallen back to async', () => {
    const unasked = judge(input({ replicas: [{ name: 'db-02', hears: undefined, detail: 'x' }] }));
    assert.match(unasked.reason, /refused: db-02 .* may hold acknowledged/);
    assert.equal(unasked.promote, false);
    const async = judge(input({ semiSyncActive: false }));
    assert.match(async.reason, /refused: .*asynchronous/);
    assert.equal(async.promote, false);
  });

  it('is paused by an operator, by the anti-flap period (until re-armed), and when off', () => {
    const pause = { by: 'ops', reason: 'maintenance', at: '2026-12-02T00:00:00Z' };
    assert.match(judge(input({ pause })).pausedBecause, /paused by ops .*maintenance/);
    const lastAutomatic = { at: NOW - 10_000, from: 'db-02', to: 'db-01', epoch: 3 };
    const held = judge(input({ lastAutomatic }));
    assert.deepEqual([held.armed, held.promote], [false, false]);
    assert.match(held.pausedBecause, /anti-flap/);
    assert.equal(judge(input({ lastAutomatic, rearmedAt: NOW - 5000 })).promote, true);
    const later = { ...lastAutomatic, at: NOW - DEFAULT_FAILOVER.antiFlapSeconds * 1000 - 1 };
    assert.equal(judge(input({ lastAutomatic: later })).promote, true);
    const off = judge(input({ settings: { ...DEFAULT_FAILOVER, automatic: false } }));
    assert.equal(off.promote, false);
    assert.equal(judge(input({ claimedEpoch: 4 })).promote, false);
  });

  it('promotes when every web server has lost the primary the managers still reach, even though the replicas hear it', () => {
    const reaching = [seen('lb-01', true), seen('lb-02', true), seen('mon', true)];
    const hearing = [{ name: 'db-02', hears: true, detail: '' }];
    const cut = (webCutForMs: number): Observation => ({
      ...seen('lb-01', true),
      webCutForMs,
      webDetail: 'web-01, web-02: db-01 does not answer',
    });
    const j = judge(input({ observations: [cut(900), ...reaching.slice(1)], replicas: hearing }));
    assert.deepEqual([j.verdict, j.promote], ['dead', true]);
    assert.match(j.reason, /every web server has failed to reach db-01/);
    assert.match(j.reason, /while the managers still reach it/);
    // A killed primary: the web servers' probes fail at once, before the managers confirm.
    const killed = judge(
      input({ observations: [{ ...cut(900), reachable: false, failingForMs: 100 }] }),
    );
    assert.deepEqual([killed.verdict, killed.promote], ['dead', true]);
    assert.match(killed.reason, /and lb-01 cannot reach it either/);
    // Not yet confirmed, or not cut off (0): nothing; and the usual refusals still hold.
    for (const ms of [100, 0])
      assert.equal(judge(input({ observations: [cut(ms)], replicas: hearing })).promote, false);
    const pause = { by: 'ops', reason: '', at: '2026-12-02T00:00:00Z' };
    assert.equal(
      judge(input({ observations: [cut(900)], replicas: hearing, pause })).promote,
      false,
    );
    assert.equal(judge(input({ observations: [cut(900)], semiSyncActive: false })).promote, false);
    assert.deepEqual(
      judge(input({ observations: reaching, replicas: hearing })).verdict,
      'healthy',
    );
  });
});
