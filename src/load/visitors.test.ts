import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { homePage } from '../../app/src/pages.ts';
import { parseVisitorsArgs, runVisitors, type VisitorsOptions } from './visitors.ts';
import {
  DEFAULT_VISIT_KINDS,
  summarizeVisits,
  summarizeWrites,
  type VisitorsReport,
} from './visits.ts';

const RELEASE = '0123456789ab';

/** How the stand-in site was asked for its static files: method → count. */
const staticMethods = new Map<string, number>();

/**
 * What the stand-in site answered: a count per kind (`page`, `static`, `whoami`, `write`,
 * `refused`), and the connections it accepted (`connection`).
 */
const answered = new Map<string, number>();
const answer = (key: string): void => {
  answered.set(key, (answered.get(key) ?? 0) + 1);
};
const seen = (key: string): number => answered.get(key) ?? 0;

/**
 * A stand-in for the site on 127.0.0.1: a page, its assets, whoami, and a guestbook; reads never
 * end. Writes whose text starts with `flaky-` are refused every other time (503).
 */
function site(): http.Server {
  let id = 0;
  let flaky = 0;
  const server = http.createServer((request, response) => {
    response.setHeader('x-served-by', 'web-01');
    if (request.url === '/') {
      answer('page');
      response.end(homePage({ server: 'web-01', release: RELEASE }));
    } else if (request.url?.startsWith('/static/') === true) {
      const method = request.method ?? '';
      staticMethods.set(method, (staticMethods.get(method) ?? 0) + 1);
      answer('static');
      response.end('asset');
    } else if (request.url === '/api/whoami') {
      answer('whoami');
      response.end(JSON.stringify({ server: 'web-01', db: { read: 'db-02', write: 'db-01' } }));
    } else if (request.method === 'POST') {
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        const { text } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string };
        if (text.startsWith('flaky-') && flaky++ % 2 === 0) {
          answer('refused');
          response.statusCode = 503;
          response.end(JSON.stringify({ error: 'no primary takes writes' }));
          return;
        }
        answer('write');
        response.statusCode = 201;
        response.end(JSON.stringify({ id: ++id, text, db: 'db-01' }));
      });
    }
    // GET /api/messages never answers: a request in flight when the visitors leave.
  });
  server.on('connection', () => {
    answer('connection');
  });
  return server;
}

describe('visitors', () => {
  const server = site();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'visitors-test-'));
  let url = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const options = (more: Partial<VisitorsOptions>): VisitorsOptions => ({
    url,
    seconds: 0.4,
    concurrency: 2,
    timeoutMs: 5000,
    browse: false,
    connections: 'kept',
    kinds: DEFAULT_VISIT_KINDS,
    statics: [],
    staticMethod: 'GET',
    prefix: 't',
    intervalMs: 10,
    ...more,
  });
  let stops = 0;
  /**
   * Visitors that leave (by their stop file) once the site has answered `enough`, counted from
   * now: a test waits for the requests it needs however slow the machine, bounded at 30 s.
   */
  const visitUntil = async (
    more: Partial<VisitorsOptions>,
    enough: Record<string, number>,
  ): Promise<VisitorsReport & { leftAfterMs: number }> => {
    const stopFile = path.join(dir, `stop-${++stops}`);
    const before = new Map(answered);
    let stoppedAt = 0;
    const poll = setInterval(() => {
      const done = Object.entries(enough).every(
        ([key, n]) => seen(key) - (before.get(key) ?? 0) >= n,
      );
      if (!done || stoppedAt > 0) return;
      writeFileSync(stopFile, '');
      stoppedAt = Date.now();
    }, 20);
    try {
      const report = await runVisitors(options({ ...more, seconds: 30, stopFile }));
      assert.ok(stoppedAt > 0, `the site answered less than ${JSON.stringify(enough)} in 30 s`);
      return { ...report, leftAfterMs: Date.now() - stoppedAt };
    } finally {
      clearInterval(poll);
    }
  };

  it('browsing: every page, then the assets it names, then a write; release and ready file', async () => {
    const readyFile = path.join(dir, 'ready');
    const report = await visitUntil(
      { browse: true, intervalMs: 0, readyFile },
      { page: 6, static: 12, write: 2 },
    );
    const summary = summarizeVisits(report);
    assert.ok(existsSync(readyFile), 'ready once a page was served');
    assert.ok(summary.kinds.page.requests > 2, JSON.stringify(summary.kinds));
    assert.ok(summary.kinds.static.requests >= 3 * (summary.kinds.page.requests - 2));
    assert.equal(summary.kinds.read.requests, 0);
    assert.equal(summary.failed, 0);
    assert.deepEqual(Object.keys(summary.releases), [RELEASE]);
    assert.equal(summary.servedBy['web-01'], summary.requests);
    assert.equal(report.acked.length, summary.kinds.write.ok);
    assert.ok(report.acked.every((a) => /^t-[01]-\d+$/.test(a.text) && a.id > 0));
    assert.equal(new Set(report.acked.map((a) => a.text)).size, report.acked.length);
    assert.ok(report.visits.every((v) => !v.fresh));
  });

  it('by kind: visitors of each kind, half of them on new connections, gone at the stop file', async () => {
    // Stopped once each kind was answered a few times on both kinds of connection: the reads
    // still hang then, and must not hold the visitors back.
    // The reads' own timeout is a minute: visitors that waited for them would leave a minute
    // late; the bound is loose for a loaded machine (it failed at 5 s once at a load of 24).
    const report = await visitUntil(
      { connections: 'mixed', statics: ['static/a.css'], timeoutMs: 60_000 },
      // The kept-alive visitors share two connections: the others came from fresh ones.
      { page: 4, static: 4, write: 4, connection: 10 },
    );
    assert.ok(
      report.leftAfterMs < 15_000,
      `left ${report.leftAfterMs} ms after the stop file: reads in flight must be abandoned`,
    );
    const summary = summarizeVisits(report);
    for (const kind of ['page', 'static', 'write'] as const)
      assert.ok(summary.kinds[kind].ok > 0, `${kind}: ${JSON.stringify(summary.kinds[kind])}`);
    // The reads never ended: abandoned when the visitors left, not counted as failures.
    assert.equal(summary.kinds.read.requests, 0);
    assert.equal(summary.failed, 0);
    assert.ok(report.visits.some((v) => v.fresh) && report.visits.some((v) => !v.fresh));
  });

  it('whoami, and static files asked with HEAD: each its own visitors, each kind its own figures', async () => {
    staticMethods.clear();
    const report = await visitUntil(
      {
        kinds: ['static', 'whoami'],
        statics: ['static/a.css'],
        staticMethod: 'HEAD',
        intervalMs: 0,
      },
      { static: 6, whoami: 6 },
    );
    const { kinds, failed } = summarizeVisits(report);
    assert.equal(failed, 0);
    for (const kind of ['static', 'whoami'] as const) {
      assert.ok(kinds[kind].ok > 2, `${kind}: ${JSON.stringify(kinds[kind])}`);
      assert.deepEqual(kinds[kind].servedBy, { 'web-01': kinds[kind].requests });
      assert.ok(kinds[kind].p99Ms <= kinds[kind].slowestMs && kinds[kind].slowestMs < 5000);
    }
    assert.equal(kinds.page.requests + kinds.read.requests + kinds.write.requests, 0);
    // Every static request was a HEAD; the site may also have answered one each visitor still had
    // in flight when they left (not counted by the visitors).
    assert.deepEqual([...staticMethods.keys()], ['HEAD']);
    const heads = staticMethods.get('HEAD') ?? 0;
    assert.ok(
      heads >= kinds.static.requests && heads <= kinds.static.requests + 2,
      `${heads} HEAD answered, ${kinds.static.requests} counted`,
    );
  });

  it('writes only: back to back, each ack with its id, time and server; refusals counted; ready file', async () => {
    const started = Date.now();
    const readyFile = path.join(dir, 'ready-writes');
    const report = await visitUntil(
      { kinds: ['write'], intervalMs: 0, prefix: 'flaky', readyFile },
      { write: 6, refused: 2 },
    );
    assert.ok(existsSync(readyFile), 'ready once a write was acknowledged');
    const summary = summarizeWrites(report);
    assert.equal(summarizeVisits(report).kinds.page.requests, 0);
    assert.ok(summary.acked.length > 2, JSON.stringify(summary));
    assert.deepEqual(Object.keys(summary.failures), ['503']);
    assert.equal(summary.requests, summary.acked.length + (summary.failures['503'] ?? 0));
    assert.equal(summary.failedAt.length, summary.failures['503']);
    assert.ok(
      summary.acked.every((a) => a.db === 'db-01' && a.at >= started && a.at <= Date.now()),
    );
    assert.ok(summary.slowestMs >= 0 && summary.slowestMs < 5000);
  });

  it('with --dns, fresh visitors look the name up at the name servers given, once per request', async () => {
    // A stand-in name server on 127.0.0.1: www.foobar.test is 127.0.0.1, for every A query.
    const queries: string[] = [];
    const ns = dgram.createSocket('udp4');
    ns.on('message', (query, from) => {
      // The question's name: labels from byte 12 to the zero byte.
      const labels: string[] = [];
      for (let i = 12; query[i] !== 0 && i < query.length; i += (query[i] ?? 0) + 1)
        labels.push(query.subarray(i + 1, i + 1 + (query[i] ?? 0)).toString('ascii'));
      queries.push(labels.join('.'));
      const question = query.subarray(12);
      const header = Buffer.from(query.subarray(0, 12));
      header.writeUInt16BE(0x8180, 2); // a response, recursion available, no error
      header.writeUInt16BE(1, 6); // one answer
      const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1]);
      ns.send(Buffer.concat([header, question, answer]), from.port, from.address);
    });
    await new Promise<void>((resolve) => ns.bind(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const parsed = parseVisitorsArgs([
        '--url',
        `http://www.foobar.test:${port}/`,
        '--dns',
        `127.0.0.1:${ns.address().port}`,
      ]);
      const report = await visitUntil(
        {
          url: parsed.url,
          ...(parsed.dns === undefined ? {} : { dns: parsed.dns }),
          connections: 'fresh',
          kinds: ['whoami'],
        },
        { whoami: 4 },
      );
      const summary = summarizeVisits(report);
      assert.equal(summary.failed, 0, JSON.stringify(summary));
      assert.ok(summary.kinds.whoami.ok >= 4);
      assert.ok(queries.length >= 4, `${queries.length} lookups`);
      assert.ok(
        queries.every((q) => q === 'www.foobar.test'),
        queries.join(', '),
      );
    } finally {
      ns.close();
    }
    assert.throws(() => parseVisitorsArgs(['--url', 'http://x/', '--dns', 'ns1']), /IPv4/);
  });

  it('parses its command line: connections, browsing, kinds, bounds', () => {
    // What a browser does, unless told: whoami only when asked.
    assert.deepEqual(parseVisitorsArgs(['--url', 'http://x/']).kinds, DEFAULT_VISIT_KINDS);
    assert.deepEqual(
      parseVisitorsArgs(['--url', 'http://x/', '--kind', 'whoami', '--kind', 'read']).kinds,
      ['read', 'whoami'],
    );
    assert.throws(() => parseVisitorsArgs(['--url', 'http://x/', '--kind', 'pages']), /one of/);
    assert.equal(parseVisitorsArgs(['--url', 'http://x/']).staticMethod, 'GET');
    const head = ['--url', 'http://x/', '--static-method', 'HEAD'];
    assert.equal(parseVisitorsArgs(head).staticMethod, 'HEAD');
    assert.throws(
      () => parseVisitorsArgs(['--url', 'http://x/', '--static-method', 'POST']),
      /--static-method POST: one of GET, HEAD/,
    );
    const parsed = parseVisitorsArgs(['--url', 'https://www.foobar.com', '--mixed', '--browse']);
    assert.equal(parsed.url, 'https://www.foobar.com/');
    assert.equal(parsed.connections, 'mixed');
    assert.equal(parsed.browse, true);
    assert.equal(parseVisitorsArgs(['--url', 'http://x/', '--fresh']).connections, 'fresh');
    assert.equal(parseVisitorsArgs(['--url', 'http://x/']).connections, 'kept');
    assert.throws(() => parseVisitorsArgs(['--url', 'http://x/', '--fresh', '--mixed']), /exclude/);
  });
});
