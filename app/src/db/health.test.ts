import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dbHealth,
  isDown,
  isReached,
  markDown,
  markOk,
  newServerHealth,
  REACH_FRESH_MS,
} from './health.ts';

describe('database health', () => {
  it('a server that failed stays down until it answers again', () => {
    const health = newServerHealth();
    markOk(health, 1000, false);
    markDown(health, 1100, 'connect ECONNREFUSED');
    markDown(health, 1500, 'connect ETIMEDOUT');
    assert.equal(isDown(health), true);
    assert.equal(health.downSince, 1100, 'down since the first failure');
    assert.equal(isReached(health, 1600), false);
    markOk(health, 1700);
    assert.equal(isDown(health), false);
    assert.equal(health.readOnly, false, 'an answer without read_only keeps the last seen');
  });

  it('counts the silence from the start of the earliest failed attempt, never before an answer', () => {
    const health = newServerHealth();
    markOk(health, 1000);
    markDown(health, 2300, 'a ping: no answer within 750 ms');
    markDown(health, 2000, 'a probe: no answer within 500 ms');
    assert.equal(health.downSince, 2000, 'the probe began first');
    markDown(health, 900, 'an insert that began before the last answer');
    assert.equal(health.downSince, 1000, 'it answered at 1000');
  });

  it('counts as reached only for a while after its last answer', () => {
    const health = newServerHealth();
    assert.equal(isReached(health, 0), false);
    markOk(health, 10_000);
    assert.equal(isReached(health, 10_000 + REACH_FRESH_MS), true);
    assert.equal(isReached(health, 10_001 + REACH_FRESH_MS), false);
  });

  it('reachable through a replica while the primary is gone; writable only with a read-write primary', () => {
    const primary = newServerHealth();
    const replica = newServerHealth();
    markOk(replica, 5000, true);
    markOk(primary, 4000, false);
    markDown(primary, 4900, 'connect ECONNREFUSED 10.0.0.31:3306');
    assert.deepEqual(dbHealth({ name: 'db-01', health: primary }, [replica], 5000), {
      primary: 'db-01',
      primaryReachable: false,
      primaryDownForMs: 100,
      writable: false,
      reachable: true,
      problem:
        'cannot write: the primary db-01 does not answer (connect ECONNREFUSED 10.0.0.31:3306)',
    });
    markOk(primary, 5000, true);
    assert.deepEqual(dbHealth({ name: 'db-01', health: primary }, [replica], 5000), {
      primary: 'db-01',
      primaryReachable: true,
      primaryDownForMs: 0,
      writable: false,
      reachable: true,
      problem: 'cannot write: db-01 is read-only',
    });
    markOk(primary, 5000, false);
    assert.deepEqual(dbHealth({ name: 'db-01', health: primary }, [replica], 5000), {
      primary: 'db-01',
      primaryReachable: true,
      primaryDownForMs: 0,
      writable: true,
      reachable: true,
    });
    assert.equal(dbHealth({ name: 'db-01', health: primary }, [replica], 9000).reachable, false);
  });
});
