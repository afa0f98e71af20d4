import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildApp } from './app.ts';

function testApp() {
  return buildApp({
    server: 'web-09',
    release: 'abc123def456',
    trustProxy: ['127.0.0.1'],
    keepAliveTimeoutMs: 5000,
  });
}

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

  it('is ready until it drains', async () => {
    const { app, state } = testApp();
    assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
    state.draining = true;
    assert.equal((await app.inject({ url: '/readyz' })).statusCode, 503);
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
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
