import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { homePage } from '../../app/src/pages.ts';
import { readPage, summarizeVisits, type Visit } from './visits.ts';

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
        visit('read', 300, 0, { error: 'ECONNRESET', url: 'https://x/api/messages?limit=5' }),
        visit('write', 310, 502, { url: 'https://x/api/messages' }),
      ],
    });
    assert.deepEqual(summary.kinds, {
      page: { requests: 4, ok: 3, statuses: { '200': 3, '503': 1 }, errors: {} },
      static: { requests: 1, ok: 1, statuses: { '200': 1 }, errors: {} },
      read: { requests: 1, ok: 0, statuses: {}, errors: { ECONNRESET: 1 } },
      write: { requests: 2, ok: 1, statuses: { '201': 1, '502': 1 }, errors: {} },
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
      { at: 310, kind: 'read', answer: 'ECONNRESET', url: 'https://x/api/messages?limit=5' },
      { at: 320, kind: 'write', answer: '502', url: 'https://x/api/messages' },
    ]);
  });

  it('keeps the first hundred failures, by when they ended', () => {
    const visits = Array.from({ length: 150 }, (_, i) => visit('page', 150 - i, 502));
    const summary = summarizeVisits({ startedAt: 0, endedAt: 200, acked: [], visits });
    assert.equal(summary.failures.length, 100);
    assert.equal(summary.failures[0]?.at, 11);
    assert.equal(summary.failed, 150);
  });
});
