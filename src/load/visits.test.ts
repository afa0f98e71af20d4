import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { homePage } from '../../app/src/pages.ts';
import { percentile, readPage, summarizeVisits, type Visit } from './visits.ts';

it('reads the release and the assets off the home page the app renders', () => {
  const page = readPage(homePage({ server: 'web-01', release: '0123456789ab' }));
  assert.equal(page.release, '0123456789ab');
  assert.deepEqual(page.assets.sort(), [
    '/static/0123456789ab/app.css',
    '/static/0123456789ab/app.js',
    '/static/0123456789ab/logo.svg',
  ]);
  assert.deepEqual(readPage('<html>502 Bad Gateway</html>'), { assets: [] });
});

describe('percentile', () => {
  it('takes the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(values, 0.99), 99);
    assert.equal(percentile(values, 0.5), 50);
    assert.equal(percentile([7], 0.99), 7);
    assert.equal(percentile([], 0.99), null);
  });

  it('does not depend on the order of the values', () => {
    assert.equal(percentile([30, 10, 20], 1), 30);
  });
});

describe('summarizeVisits', () => {
  const visit = (kind: Visit['kind'], start: number, status: number, more = {}): Visit => ({
    kind,
    fresh: false,
    start,
    ms: 10,
    status,
    ...more,
  });

  it('counts each kind, the releases pages came from, and who served them', () => {
    const summary = summarizeVisits({
      startedAt: 0,
      endedAt: 500,
      acked: [],
      visits: [
        visit('page', 0, 200, { release: 'aaaaaaaaaaaa', server: 'web-01' }),
        visit('static', 20, 200, { server: 'web-01' }),
        visit('write', 30, 201, { server: 'web-02' }),
        visit('page', 100, 200, { release: 'aaaaaaaaaaaa', server: 'web-02' }),
        visit('page', 200, 200, { release: 'bbbbbbbbbbbb', server: 'web-01' }),
        // A 503 page names no release a visitor saw served.
        visit('page', 250, 503, { release: 'cccccccccccc', url: 'https://x/' }),
        visit('read', 300, 0, {
          error: 'ECONNRESET',
          url: 'https://x/api/messages?limit=5',
          idleMs: 9990,
        }),
        visit('write', 310, 502, { url: 'https://x/api/messages' }),
      ],
    });
    const took = { slowestMs: 10, p99Ms: 10 };
    assert.deepEqual(summary.kinds, {
      page: {
        requests: 4,
        ok: 3,
        statuses: { '200': 3, '503': 1 },
        errors: {},
        servedBy: { 'web-01': 2, 'web-02': 1 },
        ...took,
      },
      static: {
        requests: 1,
        ok: 1,
        statuses: { '200': 1 },
        errors: {},
        servedBy: { 'web-01': 1 },
        ...took,
      },
      read: { requests: 1, ok: 0, statuses: {}, errors: { ECONNRESET: 1 }, servedBy: {}, ...took },
      write: {
        requests: 2,
        ok: 1,
        statuses: { '201': 1, '502': 1 },
        errors: {},
        servedBy: { 'web-02': 1 },
        ...took,
      },
      // Not asked: nothing, and no duration.
      whoami: {
        requests: 0,
        ok: 0,
        statuses: {},
        errors: {},
        servedBy: {},
        slowestMs: 0,
        p99Ms: 0,
      },
    });
    assert.equal(summary.requests, 8);
    assert.equal(summary.failed, 3);
    assert.deepEqual(summary.releases, {
      aaaaaaaaaaaa: { first: 10, last: 110, pages: 2 },
      bbbbbbbbbbbb: { first: 210, last: 210, pages: 1 },
    });
    assert.deepEqual(summary.servedBy, { 'web-01': 3, 'web-02': 2 });
    assert.deepEqual(summary.failures, [
      { at: 260, kind: 'page', answer: '503', url: 'https://x/' },
      {
        at: 310,
        kind: 'read',
        answer: 'ECONNRESET',
        url: 'https://x/api/messages?limit=5',
        idleMs: 9990,
      },
      { at: 320, kind: 'write', answer: '502', url: 'https://x/api/messages' },
    ]);
  });

  it('gives each kind its slowest request and its p99, failed ones included', () => {
    // 200 whoami: 1..200 ms, then one that timed out after 5 s; reads are all fast.
    const visits = [
      ...Array.from({ length: 200 }, (_, i) => visit('whoami', i, 200, { ms: i + 1 })),
      visit('whoami', 300, 0, { ms: 5000, error: 'ETIMEDOUT' }),
      visit('read', 0, 200, { ms: 3 }),
      visit('read', 5, 200, { ms: 7 }),
    ];
    const { kinds } = summarizeVisits({ startedAt: 0, endedAt: 6000, acked: [], visits });
    // Nearest rank: the 199th of 201 durations.
    assert.deepEqual(
      { slowestMs: kinds.whoami.slowestMs, p99Ms: kinds.whoami.p99Ms },
      { slowestMs: 5000, p99Ms: 199 },
    );
    assert.deepEqual(
      { slowestMs: kinds.read.slowestMs, p99Ms: kinds.read.p99Ms },
      {
        slowestMs: 7,
        p99Ms: 7,
      },
    );
  });

  it('counts the requests sent again after a kept-alive connection closed under them', () => {
    const visits = [
      visit('page', 0, 200, { staleConnections: 2 }),
      visit('static', 1, 200),
      visit('read', 2, 200, { staleConnections: 1 }),
    ];
    assert.equal(summarizeVisits({ startedAt: 0, endedAt: 9, acked: [], visits }).resent, 2);
  });

  it('keeps the first hundred failures, by when they ended', () => {
    const visits = Array.from({ length: 150 }, (_, i) => visit('page', 150 - i, 502));
    const summary = summarizeVisits({ startedAt: 0, endedAt: 200, acked: [], visits });
    assert.equal(summary.failures.length, 100);
    assert.equal(summary.failures[0]?.at, 11);
    assert.equal(summary.failed, 150);
  });
});
