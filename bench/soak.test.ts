import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeVisits, type Visit } from '../src/load/visits.ts';
import { memoryOf, type Memory } from './memory.ts';
import {
  chunkOf,
  formatSoak,
  LOAD_GENERATOR_KIND,
  loadTotals,
  siteMemory,
  soakGrowth,
  type SoakSample,
} from './soak.ts';

/** kind → PSS, or [PSS, USS]; USS is half the PSS unless given. */
type Kinds = Record<string, number | readonly [number, number]>;

const memory = (byKind: Kinds): Memory =>
  memoryOf(
    Object.entries(byKind).map(([kind, mb]) => {
      const [pss, uss] = typeof mb === 'number' ? [mb, mb / 2] : mb;
      return [kind, { processes: 1, mb: pss, ussMb: uss, dirtyMb: uss }] as const;
    }),
  );

const sample = (minute: number, byKind: Kinds): SoakSample => ({
  at: `2026-12-04T21:${String(minute).padStart(2, '0')}:00.000Z`,
  minute,
  loadAverage: [1, 2, 3],
  memory: memory(byKind),
});

describe('soakGrowth', () => {
  it('measures from the first sample to the last, the load generator left out', () => {
    const growth = soakGrowth([
      sample(0, { mariadbd: 200, prometheus: 50, [LOAD_GENERATOR_KIND]: 40 }),
      sample(5, { mariadbd: 300, prometheus: 55, [LOAD_GENERATOR_KIND]: 90 }),
      sample(10, { mariadbd: 210, prometheus: 60, [LOAD_GENERATOR_KIND]: 120 }),
    ]);
    assert.equal(growth.minutes, 10);
    assert.deepEqual(growth.pss, { startMb: 250, endMb: 270, growthMb: 20, growthPct: 8 });
    assert.deepEqual(growth.uss, { startMb: 125, endMb: 135, growthMb: 10, growthPct: 8 });
    assert.equal(growth.met, true);
    assert.deepEqual(
      growth.kinds.map((k) => [k.kind, k.pss.growthMb, k.pss.growthPct, k.uss.growthMb]),
      [
        ['mariadbd', 10, 5, 5],
        ['prometheus', 10, 20, 5],
      ],
    );
  });

  it('meets the goal only if both PSS and USS grew by 10% at most', () => {
    // PSS +5% (another lab's sharers left), USS +20%.
    const growth = soakGrowth([
      sample(0, { mariadbd: [200, 100] }),
      sample(60, { mariadbd: [210, 120] }),
    ]);
    assert.equal(growth.pss.growthPct, 5);
    assert.equal(growth.uss.growthPct, 20);
    assert.equal(growth.met, false);
  });

  it('names a kind that appeared or left, the largest growth first', () => {
    const growth = soakGrowth([sample(0, { nginx: 10, etcd: 5 }), sample(60, { nginx: 8, x: 3 })]);
    assert.deepEqual(
      growth.kinds.map((k) => [k.kind, k.pss.startMb, k.pss.endMb, k.pss.growthPct]),
      [
        ['x', 0, 3, null],
        ['nginx', 10, 8, -20],
        ['etcd', 5, 0, -100],
      ],
    );
  });

  it('needs a sample', () => {
    assert.throws(() => soakGrowth([]), /no memory sample/);
  });
});

it('leaves the load generator out of a sample', () => {
  assert.deepEqual(
    siteMemory(memory({ nginx: 10, [LOAD_GENERATOR_KIND]: 40 })),
    memory({ nginx: 10 }),
  );
});

const visit = (kind: Visit['kind'], status: number, error?: string): Visit => ({
  kind,
  fresh: false,
  start: 1000,
  ms: 5,
  status,
  ...(error === undefined ? {} : { error }),
});

describe('chunkOf and loadTotals', () => {
  const summary = summarizeVisits({
    startedAt: 0,
    endedAt: 10_000,
    visits: [
      visit('page', 200),
      visit('page', 503),
      visit('static', 304),
      visit('write', 201),
      visit('write', 200),
      visit('write', 0, 'ECONNRESET'),
    ],
    acked: [],
  });

  it('counts a run by kind, its failures by status or error', () => {
    assert.deepEqual(chunkOf(summary, 1), {
      startedAt: 0,
      endedAt: 10_000,
      requests: 6,
      failed: 3,
      kinds: {
        page: { requests: 2, ok: 1 },
        static: { requests: 1, ok: 1 },
        write: { requests: 3, ok: 1 },
      },
      failures: { 'page 503': 1, 'write 200': 1, 'write ECONNRESET': 1 },
      resent: 0,
      firstFailures: summary.failures,
      writesAcked: 1,
    });
  });

  it('adds the runs up, the rate over the time they ran', () => {
    const chunk = chunkOf(summary, 1);
    const totals = loadTotals([chunk, { ...chunk, startedAt: 10_000, endedAt: 30_000 }]);
    assert.equal(totals.seconds, 30);
    assert.equal(totals.requests, 12);
    assert.equal(totals.failed, 6);
    assert.equal(totals.requestsPerSecond, 0.4);
    assert.equal(totals.writesAcked, 2);
    assert.deepEqual(totals.kinds.write, { requests: 6, ok: 2 });
    assert.deepEqual(totals.failures, { 'page 503': 2, 'write 200': 2, 'write ECONNRESET': 2 });
    assert.deepEqual(
      totals.firstFailures.map((f) => f.answer),
      ['503', '200', 'ECONNRESET', '503', '200', 'ECONNRESET'],
    );
    assert.equal(loadTotals([]).requestsPerSecond, 0);
  });
});

it('prints the samples, the growth per kind and whether the goal is met', () => {
  const samples = [
    sample(0, { mariadbd: 200, [LOAD_GENERATOR_KIND]: 40 }),
    sample(60, { mariadbd: 230, [LOAD_GENERATOR_KIND]: 40 }),
  ];
  const totals = loadTotals([
    {
      startedAt: 0,
      endedAt: 60_000,
      requests: 600,
      failed: 1,
      kinds: { page: { requests: 599, ok: 599 }, read: { requests: 1, ok: 0 } },
      failures: { 'read ECONNRESET': 1 },
      resent: 2,
      firstFailures: [
        { at: 1_500, kind: 'read', answer: 'ECONNRESET', url: 'https://x/', idleMs: 9_998 },
      ],
      writesAcked: 0,
    },
  ]);
  const text = formatSoak(samples, totals, { acked: 3, lost: [], duplicated: [] }, 3);
  assert.match(
    text,
    /mariadbd\s+200\.0\s+230\.0\s+\+30\.0\s+\+15\.0\s+100\.0\s+115\.0\s+\+15\.0\s+\+15\.0/,
  );
  assert.match(text, /total\s+200\.0\s+230\.0/);
  assert.match(text, /first sample after the warm-up to the last/);
  assert.match(text, /PSS \+15\.0%, USS \+15\.0% \(goal ≤ 10% on both: NOT met\)/);
  assert.match(text, /600 requests in 1\.0 min \(10\.0\/s/);
  assert.match(text, /; 2 sent again on a new connection after the server closed/);
  assert.match(
    text,
    /failures one by one: 00:00:01\.500 read ECONNRESET on a kept-alive connection idle for 9998 ms before it/,
  );
  assert.match(text, /writes: 3 acknowledged, 3 rows on the primary, 0 lost, 0 duplicated/);
});
