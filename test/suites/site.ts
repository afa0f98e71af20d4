/**
 * The site as a user gets it: https://www.<domain>/ with the lab's CA, from the client host, each
 * load balancer asked in turn (curl --resolve pins the name to it, as a DNS answer would).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { hostsWithRole } from '../../src/model/model.ts';
import { subnetContains } from '../../src/model/net.ts';
import { backendServers } from '../../src/probes/haproxy.ts';
import { siteUrl } from '../../src/probes/site.ts';
import type { TestLab } from '../support/lab.ts';
import { fetchOn } from '../support/http.ts';

const APP_STATIC = path.resolve(import.meta.dirname, '../../app/static');

export function siteSuite(lab: TestLab): void {
  const lbs = hostsWithRole(lab.model, 'lb');
  const webs = hostsWithRole(lab.model, 'web').map((h) => h.name);
  const url = (pathname: string): string => `${siteUrl(lab.model)}${pathname.slice(1)}`;

  describe('the site through the load balancers', () => {
    for (const lb of lbs) {
      it(`${lb.name} splits 100 GETs evenly between the web servers`, async (t) => {
        const totals = async (): Promise<{ given: number; retried: number }> => {
          const servers = await backendServers(lab.ctx, lb.name);
          assert.ok(!('error' in servers), JSON.stringify(servers));
          return {
            given: servers.reduce((sum, s) => sum + s.total, 0),
            retried: servers.reduce((sum, s) => sum + s.retried, 0),
          };
        };
        const before = await totals();
        const urls = Array.from({ length: 100 }, () => url('/api/whoami'));
        const result = await lab.on('client', [
          'curl',
          '-sS',
          '--fail',
          ...lab.siteFlags(lb),
          '-w',
          '%header{x-served-by}\\n',
          ...urls.flatMap((url) => ['-o', '/dev/null', url]),
        ]);
        assert.equal(result.exitCode, 0, result.stderr);
        const counts = new Map<string, number>();
        for (const server of result.stdout.trim().split('\n'))
          counts.set(server, (counts.get(server) ?? 0) + 1);
        // Round-robin gives each the same share, give or take one, and one more for each request
        // of another client (the monitor's probes through this load balancer) that slipped in
        // between ours, and for each request HAProxy retried on the other server (a kept-alive
        // server connection that Nginx closed as the request went out): its own counts say how many.
        const after = await totals();
        const others = after.given - before.given - 100;
        const retried = after.retried - before.retried;
        const seen = `${JSON.stringify(Object.fromEntries(counts))}; ${others} requests of others meanwhile, ${retried} retried`;
        t.diagnostic(seen);
        assert.deepEqual([...counts.keys()].sort(), [...webs].sort());
        for (const [, count] of counts)
          assert.ok(Math.abs(count - 100 / webs.length) <= 1 + Math.max(0, others) + retried, seen);
      });
    }

    it('serves a page from the app, naming the web server and release', async () => {
      const lb = lbs[0];
      assert.ok(lb);
      const page = await fetchOn(lab, 'client', url('/'), lab.siteFlags(lb));
      const [h, body] = [page.headers, page.body];
      assert.equal(page.status, 200);
      const server = h.get('x-served-by') ?? '';
      assert.ok(webs.includes(server), `X-Served-By: ${server}`);
      const release = /release <code id="release">([0-9a-f]{12})<\/code>/.exec(body)?.[1];
      assert.ok(release !== undefined, 'the page names its release');
      assert.match(body, new RegExp(`Served by <strong id="server">${server}</strong>`));
      // Pages come from the app: no file metadata, never cached.
      assert.equal(h.get('etag'), undefined);
      assert.equal(h.get('last-modified'), undefined);
      assert.equal(h.get('cache-control'), 'no-store');
    });

    it('serves static assets from Nginx, byte for byte, with Nginx’s own headers', async () => {
      const lb = lbs[0];
      assert.ok(lb);
      const page = await lab.on('client', ['curl', '-sS', ...lab.siteFlags(lb), url('/')]);
      const css = /href="(\/static\/[0-9a-f]{12}\/app\.css)"/.exec(page.stdout)?.[1];
      assert.ok(css !== undefined, 'the page links its stylesheet');
      for (const [asset, type] of [
        [css, 'text/css'],
        [css.replace('app.css', 'app.js'), 'application/javascript'],
        [css.replace('app.css', 'logo.svg'), 'image/svg+xml'],
      ] as const) {
        const response = await fetchOn(lab, 'client', url(asset), lab.siteFlags(lb));
        const h = response.headers;
        assert.equal(
          response.body,
          readFileSync(path.join(APP_STATIC, path.basename(asset)), 'utf8'),
        );
        assert.equal(h.get('content-type'), type);
        assert.match(h.get('etag') ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/, 'Nginx ETag');
        assert.ok(h.has('last-modified'));
        assert.equal(h.get('server'), 'nginx');
        assert.equal(h.get('cache-control'), 'public, max-age=31536000, immutable');
        assert.ok(webs.includes(h.get('x-served-by') ?? ''));
      }
    });

    for (const lb of lbs) {
      it(`tells the app the client’s real address and scheme through ${lb.name}, whatever the client claims`, async () => {
        const result = await lab.on('client', [
          'curl',
          '-sS',
          ...lab.siteFlags(lb),
          '-H',
          'X-Forwarded-For: 192.0.2.7',
          '-H',
          'X-Forwarded-Proto: http',
          url('/api/whoami'),
        ]);
        const whoami = JSON.parse(result.stdout) as { client: string; protocol: string };
        assert.deepEqual(whoami.client, lab.host('client').addresses.edge);
        assert.equal(whoami.protocol, 'https');
      });
    }

    it('gives web and database servers no address on the edge network', async () => {
      const inside = [...webs, ...hostsWithRole(lab.model, 'db').map((h) => h.name)];
      assert.ok(inside.length >= 3);
      for (const web of inside) {
        const result = await lab.on(web, ['ip', '-j', '-4', 'addr', 'show']);
        const addresses = (
          JSON.parse(result.stdout) as { addr_info: { local: string }[] }[]
        ).flatMap((link) => link.addr_info.map((a) => a.local));
        assert.deepEqual(addresses.sort(), ['127.0.0.1', lab.host(web).addresses.core].sort());
        assert.ok(!addresses.some((a) => subnetContains(lab.model.networks.edge.subnet, a)));
      }
    });
  });
}
