/** HTTPS at the load balancers, as clients on the internet meet it. */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { labPaths } from '../../src/model/layout.ts';
import { addressOf, hostsWithRole } from '../../src/model/model.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { securityHeaders } from '../../src/render/haproxy/index.ts';
import { CA_KEY_SECRET } from '../../src/steps/tls.ts';
import type { BrowserReport } from '../support/browser.ts';
import { fetchOn } from '../support/http.ts';
import type { TestLab } from '../support/lab.ts';

/**
 * Chromium's start, the page and its checks: a few seconds on a quiet machine; past the default
 * 30 s of a lab script once at a load average of 24. The browser itself gives up at 60 s.
 */
const BROWSER_TIMEOUT_MS = 90_000;

export function tlsSuite(lab: TestLab): void {
  const lbs = hostsWithRole(lab.model, 'lb');
  const domain = lab.model.domain;
  const ca = labPaths(lab.model).caCertificate;

  /** An openssl s_client handshake from the client host; its output. */
  async function handshake(address: string, flags: readonly string[]): Promise<string> {
    const result = await lab.on('client', [
      'openssl',
      's_client',
      '-connect',
      `${address}:${lab.model.ports.https}`,
      '-servername',
      `www.${domain}`,
      '-CAfile',
      ca,
      '-verify_return_error',
      ...flags,
    ]);
    return `${result.stdout}\n${result.stderr}`;
  }

  describe('HTTPS', () => {
    for (const lb of lbs) {
      it(`${lb.name}: curl with the lab's CA gets the site over HTTP/2, for www and the apex`, async () => {
        for (const name of [`www.${domain}`, domain]) {
          const result = await lab.on('client', [
            'curl',
            '-sS',
            '--cacert',
            ca,
            '--resolve',
            `${name}:${lab.model.ports.https}:${addressOf(lb, 'edge')}`,
            '-o',
            '/dev/null',
            '-w',
            '%{http_code} %{http_version} %{ssl_verify_result}',
            `https://${name}/api/whoami`,
          ]);
          assert.equal(result.exitCode, 0, result.stderr);
          assert.equal(result.stdout, '200 2 0');
        }
      });

      it(`${lb.name}: plain HTTP answers 301 to the same URL on HTTPS`, async () => {
        for (const name of [`www.${domain}`, domain]) {
          const response = await fetchOn(lab, 'client', `http://${name}/static/x.css?v=1`, [
            '--resolve',
            `${name}:${lab.model.ports.http}:${addressOf(lb, 'edge')}`,
          ]);
          assert.equal(response.status, 301);
          assert.equal(response.headers.get('location'), `https://${name}/static/x.css?v=1`);
        }
      });

      it(`${lb.name}: refuses TLS 1.0 and 1.1, and TLS 1.2 without Mozilla's ciphers`, async () => {
        const address = addressOf(lb, 'edge');
        // SECLEVEL=0 lets this client offer the old protocols: the refusal must come from the server.
        for (const version of ['-tls1', '-tls1_1']) {
          const out = await handshake(address, [version, '-cipher', 'DEFAULT@SECLEVEL=0']);
          assert.match(out, /alert protocol version/, `${version}:\n${out}`);
        }
        const cbc = await handshake(address, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA']);
        assert.match(cbc, /alert handshake failure/);
      });

      it(`${lb.name}: accepts TLS 1.2 and 1.3 with forward-secret AEAD ciphers and a verified chain`, async () => {
        const address = addressOf(lb, 'edge');
        const v12 = await handshake(address, ['-tls1_2']);
        assert.match(
          v12,
          /New, TLSv1\.2, Cipher is ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)/,
        );
        assert.match(v12, /Verify return code: 0 \(ok\)/);
        const v13 = await handshake(address, ['-tls1_3']);
        assert.match(
          v13,
          /New, TLSv1\.3, Cipher is TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)/,
        );
        const alpn = await handshake(address, ['-alpn', 'h2,http/1.1']);
        assert.match(alpn, /ALPN protocol: h2/);
      });
    }

    it('puts the security headers on every response: pages, assets, API, redirects, errors', async () => {
      const page = await lab.on('client', ['curl', '-sS', ...lab.siteFlags(), siteUrl(lab.model)]);
      const css = /href="(\/static\/[0-9a-f]{12}\/app\.css)"/.exec(page.stdout)?.[1] ?? '/missing';
      const base = siteUrl(lab.model).slice(0, -1);
      const cases: [string, string, number][] = [
        ['page', `${base}/`, 200],
        ['asset', `${base}${css}`, 200],
        ['API', `${base}/api/whoami`, 200],
        ['not found', `${base}/no/such/page`, 404],
        ['URI too long', `${base}/${'a'.repeat(lab.model.limits.maxUrlBytes + 10)}`, 414],
        ['redirect', `http://www.${domain}/`, 301],
      ];
      for (const [what, url, status] of cases) {
        const response = await fetchOn(lab, 'client', url, lab.siteFlags());
        assert.equal(response.status, status, what);
        for (const [name, value] of securityHeaders(lab.model)) {
          // HSTS is meaningless over plain HTTP (browsers ignore it there).
          if (name === 'Strict-Transport-Security' && url.startsWith('http:')) continue;
          assert.equal(response.headers.get(name.toLowerCase()), value, `${what}: ${name}`);
        }
      }
    });

    it('a real browser (Chromium) loads the home page with no CSP violation, and the CSP bites', async () => {
      const lb = lbs[0];
      assert.ok(lb);
      const site = new X509Certificate(readFileSync(labPaths(lab.model).siteCertificate));
      const spki = createHash('sha256')
        .update(site.publicKey.export({ type: 'spki', format: 'der' }))
        .digest('base64');
      // Another origin (the load balancer by address): the CSP must refuse it as an image.
      const foreign = `https://${addressOf(lb, 'edge')}/robots.txt`;
      const run = await lab.script(
        'client',
        'test/support/browser.ts',
        [
          '--url',
          siteUrl(lab.model),
          '--trust-spki',
          spki,
          '--evaluate',
          '[...document.styleSheets].map((s) => s.cssRules.length)',
          '--evaluate',
          "document.querySelector('header img').naturalWidth",
          '--evaluate',
          `new Promise((resolve) => { const img = new Image(); img.onload = () => resolve('loaded'); img.onerror = () => resolve('blocked'); img.src = '${foreign}'; })`,
        ],
        BROWSER_TIMEOUT_MS,
      );
      assert.equal(run.exitCode, 0, run.stderr);
      const report = JSON.parse(run.stdout) as BrowserReport;
      const [sheets, logoWidth, injected] = report.evaluated as [number[], number, string];
      assert.equal(sheets.length, 1);
      assert.ok((sheets[0] ?? 0) > 0, 'the stylesheet loaded and applies');
      assert.ok(logoWidth > 0, 'the logo loaded');
      assert.ok(
        report.resources.includes(`${siteUrl(lab.model)}api/messages`),
        'the script ran (it fetches the guestbook)',
      );
      // The page itself breaks no rule; the one violation is the injected image's.
      const violations = report.console.filter((c) => c.source === 'security');
      assert.equal(injected, 'blocked');
      assert.deepEqual(
        violations.map((v) => v.text.includes(foreign) && v.text.includes("img-src 'self'")),
        [true],
        JSON.stringify(violations),
      );
    });

    it('foobar ca prints the CA’s path, fingerprint and how to trust it; its key is 0600', async () => {
      const result = await lab.cli('ca');
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout.split('\n')[0], ca);
      assert.match(result.stdout, /SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
      assert.match(result.stdout, new RegExp(`curl --cacert ${ca} `));
      assert.equal(statSync(lab.ctx.secrets.pathOf(CA_KEY_SECRET)).mode & 0o777, 0o600);
    });
  });
}
