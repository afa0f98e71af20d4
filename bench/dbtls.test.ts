import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDbTls, summarizeDbTls } from './dbtls.ts';

const rounds = [
  { tls: { keptQps: 900, freshPerSecond: 100 }, plain: { keptQps: 1000, freshPerSecond: 400 } },
  { tls: { keptQps: 950, freshPerSecond: 120 }, plain: { keptQps: 1000, freshPerSecond: 400 } },
  { tls: { keptQps: 800, freshPerSecond: 80 }, plain: { keptQps: 1000, freshPerSecond: 400 } },
];

describe('the database hop’s TLS cost', () => {
  it('gives TLS ÷ clear text per load: each round’s ratio, their median and spread', () => {
    const { kept, fresh } = summarizeDbTls(rounds, 8);
    assert.deepEqual(kept.ratios, [0.9, 0.95, 0.8]);
    assert.equal(kept.median, 0.9);
    assert.equal(kept.min, 0.8);
    assert.equal(kept.max, 0.95);
    assert.equal(kept.tls, 900);
    assert.equal(fresh.median, 0.25);
    assert.equal(fresh.plain, 400);
    assert.match(kept.name, /8 open connections/);
  });

  it('refuses a run that measured nothing', () => {
    assert.throws(() => summarizeDbTls([], 8), /no round/);
  });

  it('prints one row per load with both rates and the ratio', () => {
    const text = formatDbTls({
      from: 'web-01',
      to: 'db-02',
      connections: 8,
      rounds,
      ...summarizeDbTls(rounds, 8),
    });
    assert.match(text, /web-01 → db-02\), 3 rounds/);
    assert.match(
      text,
      /guestbook read on 8 open connections\s+900\/s\s+1000\/s\s+0\.90 \(0\.80–0\.95\)/,
    );
    assert.match(text, /a new connection per read\s+100\/s\s+400\/s\s+0\.25 \(0\.20–0\.30\)/);
  });
});
