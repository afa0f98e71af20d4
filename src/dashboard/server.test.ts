import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ALERT_WEBHOOK_PATH, type ServerConfig } from './config.ts';
import { startDashboard, type RunningDashboard } from './server.ts';

/** A stand-in for Prometheus' API on the loopback: it echoes what it was asked. */
function fakePrometheus(): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: 'success', data: { asked: request.url } }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      resolve(server);
    }),
  );
}

function portOf(server: http.Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

describe('the dashboard server', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-dashboard-'));
  let prometheus: http.Server;
  let open: RunningDashboard;
  let closed: RunningDashboard;
  const config = (allow: string): ServerConfig => ({
    listen: { host: '127.0.0.1', port: 0 },
    webhook: { host: '127.0.0.1', port: 0 },
    allow: [allow],
    prometheus: `http://127.0.0.1:${portOf(prometheus)}`,
    alertLog: path.join(dir, 'alerts.log'),
    static: dir,
    build: 'test',
    page: {
      title: 'www.foobar.com',
      lab: 'fb',
      refreshSeconds: 2,
      rangeSeconds: 300,
      stepSeconds: 2,
      hosts: [],
      checks: [],
      charts: [],
    },
  });
  const page = (running: RunningDashboard, url: string, init?: RequestInit) =>
    fetch(`http://127.0.0.1:${running.ports.page}${url}`, init);

  before(async () => {
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>dashboard</title>');
    prometheus = await fakePrometheus();
    open = await startDashboard(config('127.0.0.1'));
    closed = await startDashboard(config('10.77.1.1'));
  });
  after(async () => {
    await open.close();
    await closed.close();
    prometheus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page and its settings to the admin address', async () => {
    const index = await page(open, '/');
    assert.equal(index.status, 200);
    assert.equal(await index.text(), '<!doctype html><title>dashboard</title>');
    const settings = (await (await page(open, '/config.json')).json()) as { lab: string };
    assert.equal(settings.lab, 'fb');
  });

  it('refuses every other address, with the reason', async () => {
    const refused = await page(closed, '/');
    assert.equal(refused.status, 403);
    assert.equal(
      await refused.text(),
      'the dashboard answers the admin address only (10.77.1.1), not 127.0.0.1\n',
    );
    assert.equal((await page(closed, '/api/v1/query?query=up')).status, 403);
    // Probes may still ask whether it runs.
    assert.equal((await page(closed, '/healthz')).status, 200);
  });

  it('passes read-only queries to Prometheus, and nothing else', async () => {
    const answer = await page(open, '/api/v1/query?query=up%7Bjob%3D%22app%22%7D');
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), {
      status: 'success',
      data: { asked: '/api/v1/query?query=up%7Bjob%3D%22app%22%7D' },
    });
    assert.equal((await page(open, '/api/v1/admin/tsdb/delete_series')).status, 404);
    assert.equal((await page(open, '/api/v1/query', { method: 'POST' })).status, 405);
    assert.equal((await page(open, '/../../etc/passwd')).status, 404);
  });

  it('appends each notification to the alert log, and shows the latest', async () => {
    const notify = (body: string) =>
      fetch(`http://127.0.0.1:${open.ports.webhook}${ALERT_WEBHOOK_PATH}`, {
        method: 'POST',
        body,
      });
    assert.equal((await notify('{"status":"firing","alerts":[]}')).status, 200);
    assert.equal((await notify('{"status":"resolved","alerts":[]}')).status, 200);
    assert.equal((await notify('not json')).status, 400);
    const lines = readFileSync(path.join(dir, 'alerts.log'), 'utf8').trim().split('\n');
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { status: string }).status),
      ['firing', 'resolved'],
    );
    const shown = (await (await page(open, '/notifications')).json()) as { status: string }[];
    assert.deepEqual(
      shown.map((n) => n.status),
      ['firing', 'resolved'],
    );
    // The webhook is not on the admin's side.
    assert.equal(
      (await page(open, ALERT_WEBHOOK_PATH, { method: 'POST', body: '{}' })).status,
      405,
    );
  });
});
