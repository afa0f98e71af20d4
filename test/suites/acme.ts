/**
 * The site's certificate from an ACME CA (`tls.acme`), as on real servers: Pebble on the lab's
 * edge stands for Let's Encrypt. The same lab switches to it, and back to its own CA at the end.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { addressOf, hostsWithRole } from '../../src/model/model.ts';
import { readPid } from '../../src/platform/lab/process.ts';
import { childPids } from '../../src/probes/process.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { haproxyFiles } from '../../src/render/haproxy/index.ts';
import { hostPaths } from '../../src/model/layout.ts';
import type { TestLab } from '../support/lab.ts';
import { startPebble, type Pebble } from '../support/pebble.ts';

/**
 * Pebble's certificates live this long: `up` must not reissue within the first two thirds (2 min:
 * the rest of the first `up` and the second `up`'s check take about 5 s on a quiet machine, under a
 * minute at a load average of 30). The renewal test widens the window instead of waiting.
 */
const VALIDITY_SECONDS = 180;
/** A bound for one `up` (measured 2 min at a load average of 30 on this 2-core machine). */
const UP_TIMEOUT_MS = 600_000;

export function acmeSuite(lab: TestLab): void {
  const lbs = hostsWithRole(lab.model, 'lb');
  const domain = lab.model.domain;
  let pebble: Pebble | undefined;
  let acmeLab: TestLab | undefined;

  const started = (): { pebble: Pebble; acmeLab: TestLab } => {
    assert.ok(pebble !== undefined && acmeLab !== undefined, 'Pebble started');
    return { pebble, acmeLab };
  };

  /** The certificate a load balancer presents for www to a client on the internet. */
  async function presented(address: string): Promise<X509Certificate> {
    const result = await lab.on('client', [
      'openssl',
      's_client',
      '-connect',
      `${address}:${lab.model.ports.https}`,
      '-servername',
      `www.${domain}`,
    ]);
    const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(result.stdout);
    assert.ok(pem, `${address} presented no certificate:\n${result.stderr}`);
    return new X509Certificate(pem[0]);
  }

  /** curl from the client trusting Pebble's root only: the status and verify result. */
  async function fetchTrustingPebble(address: string): Promise<string> {
    const result = await lab.on('client', [
      'curl',
      '-sS',
      '--cacert',
      started().pebble.roots,
      '--resolve',
      `www.${domain}:${lab.model.ports.https}:${address}`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{ssl_verify_result}',
      siteUrl(lab.model),
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout;
  }

  async function haproxyWorkers(): Promise<Record<string, number[]>> {
    const workers: Record<string, number[]> = {};
    for (const lb of lbs) {
      const pid = await readPid(
        lab.ctx.driver,
        lb.name,
        haproxyFiles(hostPaths(lab.model, lb.name)).pid,
      );
      assert.ok(pid !== undefined, `${lb.name}: HAProxy runs`);
      workers[lb.name] = (await childPids(lab.ctx.driver, lb.name, pid)).sort();
    }
    return workers;
  }

  const acmeSettings = (ca: Pebble) => ({
    directory: ca.directory,
    email: `ops@${domain}`,
    caBundle: ca.caBundle,
    roots: ca.roots,
  });

  describe('the site certificate from an ACME CA (Pebble)', () => {
    before(async () => {
      pebble = await startPebble(lab, VALIDITY_SECONDS);
      acmeLab = lab.extend({ tls: { acme: acmeSettings(pebble) } }, 'acme');
    });

    after(async () => {
      // Back to the lab's own CA for the suites that follow.
      try {
        const back = await lab.cliWithin(UP_TIMEOUT_MS, 'up');
        assert.equal(back.exitCode, 0, back.stderr);
        const cert = await presented(addressOf(lbs[0] ?? lab.host('lb-01'), 'edge'));
        assert.match(cert.issuer, /foobar CA/);
      } finally {
        acmeLab?.removeConfig();
        await pebble?.stop();
      }
    });

    let issued: X509Certificate | undefined;

    it('up orders it by HTTP-01 through the load balancers; curl trusting only Pebble gets the page from both', async (t) => {
      const { acmeLab: acmed } = started();
      const begun = Date.now();
      const result = await acmed.cliWithin(UP_TIMEOUT_MS, 'up');
      assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout, /issued in/);
      t.diagnostic(`up with tls.acme: ${((Date.now() - begun) / 1000).toFixed(1)} s`);
      const serials = new Set<string>();
      for (const lb of lbs) {
        const address = addressOf(lb, 'edge');
        assert.equal(await fetchTrustingPebble(address), '200 0', lb.name);
        const cert = await presented(address);
        assert.match(cert.issuer, /Pebble Intermediate CA/, lb.name);
        assert.match(
          cert.subjectAltName ?? '',
          new RegExp(`DNS:www\\.${domain.replace('.', '\\.')}`),
        );
        serials.add(cert.serialNumber);
        issued = cert;
      }
      assert.equal(serials.size, 1, 'both load balancers present the same certificate');
    });

    it('a second up orders nothing: both load balancers keep the certificate', async () => {
      const { acmeLab: acmed } = started();
      assert.ok(issued, 'a certificate was issued');
      const result = await acmed.cliWithin(UP_TIMEOUT_MS, 'up');
      assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
      assert.doesNotMatch(result.stdout, /issued in/);
      for (const lb of lbs)
        assert.equal((await presented(addressOf(lb, 'edge'))).serialNumber, issued.serialNumber);
    });

    it('up renews it within tls.acme.renewBeforeSeconds of expiry and swaps it on both load balancers, no reload, no failed request', async (t) => {
      const { pebble: ca } = started();
      assert.ok(issued, 'a certificate was issued');
      const to = Date.parse(issued.validTo);
      // Renewal is due at once: the window is longer than Pebble's whole validity. (The default
      // window, a third of the lifetime, is the unit tests' and the previous test's.)
      const renewing = lab.extend(
        { tls: { acme: { ...acmeSettings(ca), renewBeforeSeconds: 3600 } } },
        'acme-renew',
      );
      const visitors = lab.visitKinds({ kinds: ['page'], connections: 'fresh', seconds: 300 });
      try {
        await visitors.ready();
        const workers = await haproxyWorkers();
        const begun = Date.now();
        const result = await renewing.cliWithin(UP_TIMEOUT_MS, 'up');
        const upSeconds = (Date.now() - begun) / 1000;
        // Visitors keep coming for a few seconds on the new certificate.
        await sleep(3000);
        const seen = await visitors.stop();
        assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
        assert.match(result.stdout, /issued in .*expires within renewBeforeSeconds \(3600 s\)/);
        for (const lb of lbs) {
          const cert = await presented(addressOf(lb, 'edge'));
          assert.notEqual(cert.serialNumber, issued.serialNumber, lb.name);
          assert.ok(Date.parse(cert.validTo) > to, `${lb.name}: a later expiry`);
          assert.equal(await fetchTrustingPebble(addressOf(lb, 'edge')), '200 0', lb.name);
        }
        assert.deepEqual(await haproxyWorkers(), workers, 'no HAProxy reloaded');
        t.diagnostic(
          `renewal up ${upSeconds.toFixed(1)} s; visitors on new connections: ${seen.requests} requests, ${seen.failed} failed`,
        );
        assert.ok(seen.requests > 0, 'visitors came');
        assert.equal(seen.failed, 0, JSON.stringify(seen.failures.slice(0, 5)));
      } finally {
        await visitors.stop();
        renewing.removeConfig();
      }
    });
  });
}
