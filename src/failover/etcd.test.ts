import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { EtcdUnavailable, httpTransport } from './etcd.ts';

/** A gateway on loopback: answers `/ok` with the body it got, `/bad` with 500, `/slow` never. */
const gateway = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    if (request.url === '/slow') return;
    response.statusCode = request.url === '/ok' ? 200 : 500;
    response.setHeader('content-type', 'application/json');
    const got: unknown = JSON.parse(Buffer.concat(chunks).toString());
    response.end(JSON.stringify({ method: request.method, got }));
  });
});
await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
after(() => {
  gateway.closeAllConnections();
  gateway.close();
});

test('posts JSON and resolves to the parsed answer', async () => {
  const answer = await httpTransport([url], 1000).post('/ok', { key: 'a2V5' });
  assert.deepEqual(answer, { method: 'POST', got: { key: 'a2V5' } });
});

test('tries the next endpoint when one fails, and says why each failed when all do', async () => {
  // Nothing listens on port 1 of loopback.
  const dead = 'http://127.0.0.1:1';
  assert.deepEqual(await httpTransport([dead, url], 1000).post('/ok', {}), {
    method: 'POST',
    got: {},
  });
  await assert.rejects(httpTransport([dead, url], 1000).post('/bad', {}), (error: Error) => {
    assert.ok(error instanceof EtcdUnavailable);
    assert.match(error.message, /127\.0\.0\.1:1: .*ECONNREFUSED/);
    assert.match(error.message, /HTTP 500 \{"method":"POST"/);
    return true;
  });
});

test('gives up on an endpoint that does not answer within the timeout', async () => {
  const started = Date.now();
  await assert.rejects(httpTransport([url], 200).post('/slow', {}), EtcdUnavailable);
  assert.ok(Date.now() - started < 2000);
});
