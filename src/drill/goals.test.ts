import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VisitKind } from '../load/visits.ts';
import { missedGoals, type RowFigures } from './goals.ts';
import type { KindFigures } from './measure.ts';

function kind(name: VisitKind, failed: number, cutInFlight = 0): KindFigures {
  return {
    kind: name,
    requests: 100,
    failed,
    failures: failed === 0 ? {} : { '503': failed },
    cutInFlight,
    longestOutageMs: failed === 0 ? 0 : 300,
    p99BeforeMs: 20,
    p99DuringMs: 40,
  };
}

const clean: RowFigures = {
  kinds: [kind('page', 0), kind('static', 0), kind('read', 0), kind('write', 0)],
  writePauseMs: 60,
  lookupFailures: 0,
  writes: { acked: 100, lost: 0, duplicated: 0 },
};

describe('missedGoals', () => {
  it('passes a clean row whatever the goal', () => {
    for (const goal of ['idempotent', 'writes', 'resolution', 'unaffected'] as const)
      assert.deepEqual(missedGoals(goal, clean), [], goal);
  });

  it('lets writes fail in a web or load balancer fault, not idempotent requests', () => {
    const writesFailed = { ...clean, kinds: [kind('page', 0), kind('write', 7)] };
    assert.deepEqual(missedGoals('idempotent', writesFailed), []);
    assert.deepEqual(
      missedGoals('idempotent', { ...clean, kinds: [kind('page', 2), kind('read', 1)] }),
      [
        '2 page, 1 read requests failed (goal: 0 failed idempotent requests but those in flight on a connection the fault cut)',
      ],
    );
    // Those cut in flight are excused, not the others.
    const cut = { ...clean, kinds: [kind('page', 2, 2), kind('read', 3, 1)] };
    assert.deepEqual(missedGoals('idempotent', cut), [
      '2 read requests failed (goal: 0 failed idempotent requests but those in flight on a connection the fault cut)',
    ]);
    assert.equal(missedGoals('unaffected', cut).length, 1);
  });

  it('holds a database fault to writes back within 3 s and none lost', () => {
    assert.deepEqual(missedGoals('writes', { ...clean, writePauseMs: 3000 }), []);
    assert.deepEqual(
      missedGoals('writes', {
        ...clean,
        writePauseMs: 8200,
        writes: { acked: 90, lost: 2, duplicated: 0 },
      }),
      [
        'writes were gone for 8.2 s (goal: writes back within 3 s, 0 acknowledged writes lost)',
        '2 acknowledged writes lost (goal: writes back within 3 s, 0 acknowledged writes lost)',
      ],
    );
  });

  it('holds a DNS fault to lookups, and the monitor to nothing failing at all', () => {
    assert.deepEqual(missedGoals('resolution', { ...clean, lookupFailures: 3 }), [
      '3 name lookups failed (goal: name resolution unbroken)',
    ]);
    assert.deepEqual(missedGoals('unaffected', { ...clean, kinds: [kind('write', 1)] }), [
      '1 write requests failed (goal: the site unaffected)',
    ]);
  });

  it('fails any row that stored a write twice', () => {
    assert.deepEqual(
      missedGoals('resolution', { ...clean, writes: { acked: 100, lost: 0, duplicated: 1 } }),
      ['1 writes stored twice (goal: none stored twice)'],
    );
  });
});
