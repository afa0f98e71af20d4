import assert from 'node:assert/strict';
import { it } from 'node:test';
import { compare, comparisonTable, median, pairedRatio } from './compare.ts';
import type { WrkResult } from './wrk.ts';

const result = (rps: number): WrkResult => ({
  requestsPerSecond: rps,
  p50Ms: 1,
  p99Ms: 2,
  requests: rps * 5,
  errors: 0,
});

it('interleaves ours and bare, alternating which goes first, and keeps every round', async () => {
  const order: string[] = [];
  let n = 0;
  const c = await compare(
    'static',
    'bare HAProxy',
    4,
    () => {
      order.push('ours');
      return Promise.resolve(result(90 + n++));
    },
    () => {
      order.push('bare');
      return Promise.resolve(result(100));
    },
    0.95,
  );
  assert.deepEqual(order, ['ours', 'bare', 'bare', 'ours', 'ours', 'bare', 'bare', 'ours']);
  assert.deepEqual(
    c.rounds.map((r) => r.ratio),
    [0.9, 0.91, 0.92, 0.93],
  );
  assert.equal(c.median.toFixed(3), '0.915');
  assert.equal([c.min, c.max].join(), '0.9,0.93');
  assert.match(comparisonTable([c]), /static\s+92\s+100\s+0\.92\s+0\.90-0\.93\s+≥ 0\.95 NOT met/);
});

it('median of odd and even counts', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

it('pairs one figure measured both ways each round: ratios, their median and spread, each side’s median', () => {
  const rounds = [
    { x: 90, y: 100 },
    { x: 80, y: 100 },
    { x: 120, y: 100 },
  ];
  const r = pairedRatio(
    'x ÷ y',
    rounds,
    (round) => round.x,
    (round) => round.y,
  );
  assert.deepEqual(r, {
    name: 'x ÷ y',
    ratios: [0.9, 0.8, 1.2],
    median: 0.9,
    min: 0.8,
    max: 1.2,
    a: 90,
    b: 100,
  });
});

it("compares the load balancers' CPU per request when both sides measured it", async () => {
  const withCpu = (rps: number, us: number): WrkResult => ({ ...result(rps), cpuUsPerRequest: us });
  const us = [60, 66, 63];
  let n = 0;
  const c = await compare(
    'static',
    'bare HAProxy',
    3,
    () => Promise.resolve(withCpu(90, us[n++] ?? 0)),
    () => Promise.resolve(withCpu(100, 54)),
  );
  // bare ÷ ours: 54/60, 54/66, 54/63.
  assert.deepEqual(
    c.rounds.map((r) => r.cpuRatio?.toFixed(3)),
    ['0.900', '0.818', '0.857'],
  );
  const cpu = c.cpu;
  assert.ok(cpu !== undefined);
  assert.equal(cpu.median.toFixed(3), '0.857');
  assert.equal([cpu.oursUs, cpu.bareUs].join(), '63,54');
  assert.match(comparisonTable([c]), /63\.0\/54\.0\s+0\.86 \(0\.82-0\.90\)/);
  // One side unmeasured: no CPU figure rather than a wrong one.
  const without = await compare(
    'static',
    'bare HAProxy',
    2,
    () => Promise.resolve(withCpu(90, 60)),
    () => Promise.resolve(result(100)),
  );
  assert.equal(without.cpu, undefined);
});
