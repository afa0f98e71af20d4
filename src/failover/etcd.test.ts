import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../lib/free-port-testing.ts';
import { waitFor } from '../lib/wait.ts';
import { Etcd, EtcdUnavailable, httpTransport } from './etcd.ts';

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

describe('Etcd against a real etcd', () => {
  let etcd: ChildProcess;
  let dir: string;
  let client: Etcd;
  let clientUrl: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-etcd-'));
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    clientUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    etcd = spawn(
      'etcd',
      [
        '--name=test',
        `--data-dir=${dir}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=test=${peerUrl}`,
      ],
      { stdio: 'ignore' },
    );
    client = new Etcd(httpTransport([clientUrl], 2000));
    await waitFor(
      'etcd to answer',
      async () => {
        try {
          await client.status();
          return undefined;
        } catch (error) {
          return (error as Error).message;
        }
      },
      { timeoutMs: 15_000 },
    );
  });
  after(async () => {
    etcd.kill('SIGKILL');
    await once(etcd, 'exit');
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('read answers several keys and a prefix from one request, each in the order asked', async () => {
    await client.put({ key: '/t/leader', value: 'lb-01' });
    await client.put({ key: '/t/observations/lb-01', value: 'one' });
    await client.put({ key: '/t/observations/mon', value: 'two' });
    await client.put({ key: '/t/observationsx', value: 'not under the prefix' });
    const before = await requestsServed(clientUrl);
    const [leader, absent, observations] = await client.read([
      { key: '/t/leader' },
      { key: '/t/pause' },
      { prefix: '/t/observations/' },
    ]);
    assert.deepEqual(
      leader?.map((kv) => [kv.key, kv.value]),
      [['/t/leader', 'lb-01']],
    );
    assert.deepEqual(absent, []);
    assert.deepEqual(
      observations?.map((kv) => [kv.key, kv.value]),
      [
        ['/t/observations/lb-01', 'one'],
        ['/t/observations/mon', 'two'],
      ],
    );
    // One transaction, no range of its own per key.
    assert.deepEqual(diff(before, await requestsServed(clientUrl)), { Txn: 1 });
  });

  test('read of nothing is an empty answer, and an unreachable etcd is EtcdUnavailable', async () => {
    assert.deepEqual(await client.read([]), []);
    await assert.rejects(
      new Etcd(httpTransport([`http://127.0.0.1:${await freePort()}`], 500)).read([{ key: 'k' }]),
      EtcdUnavailable,
    );
  });
});

/** etcd's count of the requests it served, by method (its own metrics). */
async function requestsServed(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(
    /^grpc_server_handled_total\{grpc_code="OK",grpc_method="(\w+)",grpc_service="etcdserverpb\.KV"[^}]*\} (\d+)$/gm,
  ))
    counts[m[1] ?? ''] = Number(m[2]);
  return counts;
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(b)
      .map(([k, v]) => [k, v - (a[k] ?? 0)] as const)
      .filter(([, v]) => v !== 0),
  );
}
