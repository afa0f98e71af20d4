import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildApp } from './app.ts';
import type { DbHealth } from './db/health.ts';
import { DbUnavailable, type Store } from './db/store.ts';

const NO_DATABASE: DbHealth = {
  primary: 'db-01',
  primaryReachable: false,
  primaryDownForMs: 1200,
  writable: false,
  reachable: false,
  problem: 'no database here',
};

/** No database answers: what the app does then, and what it refuses before asking one. */
const offlineStore: Store = {
  insertMessage: () => Promise.reject(new DbUnavailable('no database here')),
  listMessages: () => Promise.reject(new DbUnavailable('no database here')),
  whoami: () => Promise.resolve({ read: null, write: null }),
  health: () => Promise.resolve(NO_DATABASE),
  credential: () => undefined,
  close: () => Promise.resolve(),
};

/** The primary is gone, a replica answers: reads work, writes do not. */
const replicaOnlyStore: Store = {
  ...offlineStore,
  listMessages: () => Promise.resolve({ messages: [], server: 'db-02' }),
  whoami: () => Promise.resolve({ read: 'db-02', write: null }),
  health: () => Promise.resolve({ ...NO_DATABASE, reachable: true, problem: 'db-01 is gone' }),
  credential: () => 'c0ffee123456',
};

function testApp(store: Store = offlineStore) {
  return buildApp({
    server: 'web-09',
    release: 'abc123def456',
    trustProxy: ['127.0.0.1'],
    keepAliveTimeoutMs: 5000,
    store,
  });
}

const post = (payload: string | Buffer, contentType = 'application/json') =>
  testApp().app.inject({
    method: 'POST',
    url: '/api/messages',
    headers: { 'content-type': contentType },
    payload,
  });

describe('app', () => {
  it('says which server and release served the home page, with assets of that release', async () => {
    const { app } = testApp();
    const response = await app.inject({ url: '/' });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['x-served-by'], 'web-09');
    assert.match(
      response.body,
      /Served by <strong id="server">web-09<\/strong>, release <code id="release">abc123def456<\/code>/,
    );
    assert.match(response.body, /href="\/static\/abc123def456\/app.css"/);
    assert.match(response.body, /src="\/static\/abc123def456\/app.js"/);
  });

  it('answers whoami with the client address Nginx forwarded', async () => {
    const { app } = testApp();
    const response = await app.inject({
      url: '/api/whoami',
      remoteAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': '10.77.1.100', 'x-forwarded-proto': 'https' },
    });
    assert.deepEqual(response.json(), {
      server: 'web-09',
      release: 'abc123def456',
      client: '10.77.1.100',
      protocol: 'https',
      db: { read: null, write: null },
    });
  });

  it('ignores X-Forwarded-For from an untrusted peer', async () => {
    const { app } = testApp();
    const response = await app.inject({
      url: '/api/whoami',
      remoteAddress: '10.9.9.9',
      headers: { 'x-forwarded-for': '1.2.3.4' },
    });
    assert.equal(response.json<{ client: string }>().client, '10.9.9.9');
  });

  it('is not ready when it reaches no database, nor while it drains; alive all along', async () => {
    const { app, state } = testApp();
    const readyz = await app.inject({ url: '/readyz' });
    assert.equal(readyz.statusCode, 503);
    const db = {
      primary: 'db-01',
      primaryReachable: false,
      primaryDownForMs: 1200,
      writable: false,
      problem: 'no database here',
    };
    assert.deepEqual(readyz.json(), { status: 'no database', db });
    state.draining = true;
    const draining = await app.inject({ url: '/readyz' });
    assert.equal(draining.statusCode, 503);
    assert.deepEqual(draining.json(), { status: 'draining', db });
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
  });

  it('stays ready and serves reads when only a replica answers; writes get 503', async () => {
    const { app } = testApp(replicaOnlyStore);
    const readyz = await app.inject({ url: '/readyz' });
    assert.equal(readyz.statusCode, 200);
    assert.deepEqual(readyz.json(), {
      status: 'ready',
      db: {
        primary: 'db-01',
        primaryReachable: false,
        primaryDownForMs: 1200,
        writable: false,
        problem: 'db-01 is gone',
      },
      credential: 'c0ffee123456',
    });
    assert.equal((await app.inject({ url: '/api/messages' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/' })).statusCode, 200);
    const write = await app.inject({
      method: 'POST',
      url: '/api/messages',
      headers: { 'content-type': 'application/json' },
      payload: '{"text": "hello"}',
    });
    assert.equal(write.statusCode, 503);
    assert.equal(write.headers['retry-after'], '1');
    const metrics = (await app.inject({ url: '/metrics' })).body;
    assert.match(
      metrics,
      /^foobar_db_primary_reachable\{server="web-09",release="abc123def456"\} 0$/m,
    );
    assert.match(metrics, /^foobar_db_reachable\{server="web-09",release="abc123def456"\} 1$/m);
  });

  it('refuses bad messages with a 4xx before it asks the database', async () => {
    const cases: [string | Buffer, number, RegExp][] = [
      ['{"text": ""}', 400, /text is empty/],
      [JSON.stringify({ text: 'x'.repeat(501) }), 400, /longer than 500/],
      [
        Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
        400,
        /not valid UTF-8/,
      ],
      ['{"text": "\\ud800"}', 400, /not valid Unicode/],
      ['{"text": 5}', 400, /must be a string/],
      ['["text"]', 400, /expected a JSON object/],
      ['{"text": "a"', 400, /not valid JSON/],
      ['', 400, /empty/],
      [JSON.stringify({ text: 'x'.repeat(20_000) }), 413, /./],
    ];
    for (const [payload, status, message] of cases) {
      const response = await post(payload);
      assert.equal(
        response.statusCode,
        status,
        `${String(payload).slice(0, 40)}: ${response.body}`,
      );
      assert.match(response.body, message);
    }
    assert.equal((await post('text=hello', 'application/x-www-form-urlencoded')).statusCode, 415);
    const limit = await testApp().app.inject({ url: '/api/messages?limit=1000' });
    assert.equal(limit.statusCode, 400);
  });

  it('answers 503 with Retry-After when the database cannot take a good message', async () => {
    const response = await post(JSON.stringify({ text: "'); DROP TABLE messages; --" }));
    assert.equal(response.statusCode, 503);
    assert.equal(response.headers['retry-after'], '1');
    assert.equal(response.json<{ detail: string }>().detail, 'no database here');
  });

  it('counts requests by route in /metrics', async () => {
    const { app } = testApp();
    await app.inject({ url: '/api/whoami' });
    await app.inject({ url: '/nope' });
    const body = (await app.inject({ url: '/metrics' })).body;
    assert.match(
      body,
      /foobar_http_requests_total\{method="GET",route="\/api\/whoami",status="200",server="web-09",release="abc123def456"\} 1/,
    );
    assert.match(body, /foobar_http_requests_total\{method="GET",route="unmatched",status="404"/);
    assert.match(body, /process_resident_memory_bytes/);
  });
});
