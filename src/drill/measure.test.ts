import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Visit, VisitKind } from '../load/visits.ts';
import { kindFigures, longestOutage, lookupFailures, writePause } from './measure.ts';

function visit(start: number, ms: number, status: number, kind: VisitKind = 'page'): Visit {
  return { kind, fresh: false, start, ms, status };
}

describe('longestOutage', () => {
  it('is 0 when nothing failed', () => {
    assert.equal(longestOutage([visit(0, 10, 200), visit(10, 10, 200)]), 0);
  });

  it('is one failed request long when one failed', () => {
    // However many succeeded meanwhile: that visitor waited 2 s for an error.
    assert.equal(longestOutage([visit(0, 10, 200), visit(20, 2000, 0), visit(30, 10, 200)]), 2000);
  });

  it('spans a run of failures from the first start to the last end', () => {
    const visits = [
      visit(0, 10, 200),
      visit(100, 50, 502),
      visit(200, 50, 0),
      visit(300, 50, 503),
      visit(400, 10, 200),
      visit(500, 20, 502),
    ];
    assert.equal(longestOutage(visits), 250);
  });

  it('is split by a success between failures', () => {
    const visits = [visit(0, 100, 502), visit(150, 10, 200), visit(200, 100, 502)];
    assert.equal(longestOutage(visits), 100);
  });
});

describe('kindFigures', () => {
  it('counts failures by status or error, and p99 before and during the fault', () => {
    const visits: Visit[] = [
      visit(0, 10, 200, 'read'),
      visit(10, 20, 200, 'read'),
      { ...visit(100, 500, 0, 'read'), error: 'ECONNRESET' },
      visit(200, 300, 503, 'read'),
      visit(300, 40, 200, 'read'),
      visit(300, 40, 200, 'page'),
    ];
    const figures = kindFigures(visits, 'read', { injectedAt: 50, struckAt: 150, healedAt: 1000 });
    assert.deepEqual(figures, {
      kind: 'read',
      requests: 5,
      failed: 2,
      failures: { ECONNRESET: 1, '503': 1 },
      // The reset one started (100) before the fault had struck (150); the 503 is no cut.
      cutInFlight: 1,
      longestOutageMs: 500,
      p99BeforeMs: 20,
      p99DuringMs: 500,
    });
  });

  it('counts as cut a reset in flight when the fault struck, or on a connection kept from before', () => {
    const period = { injectedAt: 50, struckAt: 150, healedAt: 1000 };
    const reset = (start: number, fresh: boolean): Visit => ({
      ...visit(start, 10, 0),
      fresh,
      error: 'ECONNRESET',
    });
    assert.equal(kindFigures([reset(100, true)], 'page', period).cutInFlight, 1);
    assert.equal(kindFigures([reset(200, false)], 'page', period).cutInFlight, 1);
    // A new connection made after the fault struck was not cut by it: a failure like any.
    assert.equal(kindFigures([reset(200, true)], 'page', period).cutInFlight, 0);
    assert.equal(
      kindFigures([{ ...visit(100, 10, 0), error: 'ETIMEDOUT' }], 'page', period).cutInFlight,
      0,
    );
  });

  it('counts a write as acknowledged only with a 201', () => {
    const figures = kindFigures(
      [visit(0, 10, 200, 'write'), visit(10, 10, 201, 'write')],
      'write',
      { injectedAt: 0, struckAt: 0, healedAt: 100 },
    );
    assert.equal(figures.failed, 1);
  });
});

describe('writePause', () => {
  const writes = (ends: number[]): Visit[] => ends.map((end) => visit(end - 5, 5, 201, 'write'));

  it('is the longest gap between acknowledgements after the injection', () => {
    assert.equal(writePause(writes([10, 20, 30, 1500, 1510]), 25, 2000), 1470);
  });

  it('counts from the last acknowledgement before the injection', () => {
    assert.equal(writePause(writes([10, 900]), 500, 2000), 890);
  });

  it('runs to the end when no write was acknowledged after the injection', () => {
    assert.equal(writePause(writes([10, 20]), 500, 2000), 1980);
  });
});

describe('lookupFailures', () => {
  it('counts getaddrinfo errors only', () => {
    const visits: Visit[] = [
      { ...visit(0, 1, 0), error: 'EAI_AGAIN' },
      { ...visit(0, 1, 0), error: 'ENOTFOUND' },
      { ...visit(0, 1, 0), error: 'ECONNREFUSED' },
      visit(0, 1, 503),
    ];
    assert.equal(lookupFailures(visits), 2);
  });
});
