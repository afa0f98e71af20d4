import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadClient } from './options.ts';
import { sendRequest } from './request.ts';

/**
 * A server on loopback that closes a kept-alive connection, without an answer, when a second
 * request comes on it (what a request sent as the server's keep-alive timeout fires meets), or
 * every connection's first request with `?always`.
 */
describe('sendRequest on a kept-alive connection the server closes', () => {
  let server: http.Server;
  let base = '';
  const connections = new Set<unknown>();
  before(async () => {
    const served = new WeakMap<object, number>();
    server = http.createServer((request, response) => {
      const socket = request.socket;
      connections.add(socket);
      const n = (served.get(socket) ?? 0) + 1;
      served.set(socket, n);
      if (n > 1 || request.url?.includes('always') === true) {
        socket.destroy();
        return;
      }
      request.resume();
      request.on('end', () => response.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = () => loadClient({ url: `${base}/`, seconds: 5, concurrency: 1, timeoutMs: 2000 });

  const get = (path = '/') => ({ url: `${base}${path}`, method: 'GET', timeoutMs: 2000 });

  it('sends a GET again on a new connection when its connection had sat idle, and says so', async () => {
    const c = client();
    assert.deepEqual(await sendRequest(c, get()), { status: 200 });
    const before = connections.size;
    await sleep(1100);
    assert.deepEqual(await sendRequest(c, get()), { status: 200, staleConnections: 1 });
    assert.equal(connections.size, before + 1, 'answered on a new connection');
    c.agent.destroy();
  });

  it('fails a GET whose connection was busy a moment before: cut, not stale', async () => {
    const c = client();
    assert.deepEqual(await sendRequest(c, get()), { status: 200 });
    const second = await sendRequest(c, get());
    assert.equal(second.error, 'ECONNRESET');
    assert.equal(second.staleConnections, undefined);
    assert.ok(second.idleMs !== undefined && second.idleMs < 1000, String(second.idleMs));
    c.agent.destroy();
  });

  it('never sends a POST again: it fails, saying how long its connection had been idle', async () => {
    const c = client();
    const spec = { url: `${base}/`, method: 'POST', timeoutMs: 2000, json: { text: 'x' } };
    assert.deepEqual(await sendRequest(c, spec), { status: 200 });
    await sleep(1100);
    const second = await sendRequest(c, spec);
    assert.equal(second.error, 'ECONNRESET');
    assert.equal(second.staleConnections, undefined);
    assert.ok(second.idleMs !== undefined && second.idleMs >= 1000, String(second.idleMs));
    c.agent.destroy();
  });

  it('does not send again what a new connection failed', async () => {
    const c = client();
    assert.deepEqual(await sendRequest(c, get('/always')), { error: 'ECONNRESET' });
    c.agent.destroy();
  });
});
