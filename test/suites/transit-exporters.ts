/**
 * Encryption behind the edge, from the monitor to every exporter, as the monitoring host and
 * this machine (the admin) meet it: Prometheus scrapes each one over https, verified by the
 * host's name against the lab's CA; plain HTTP gets no metrics from any of them; a client
 * without the CA, or expecting another host, fails verification; `up` renews the certificates
 * and every endpoint serves the new one with no target lost.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostPaths, labPaths } from '../../src/model/layout.ts';
import { addressOf, hostsWithRole, type Host } from '../../src/model/model.ts';
import {
  jobsOn,
  monitorHost,
  SCRAPE_JOBS,
  scrapeTargets,
  type ScrapeTarget,
} from '../../src/model/monitoring.ts';
import { SERVICE_CERTIFICATE_DAYS, transitFiles, trustedCa } from '../../src/model/transit.ts';
import { prometheusTargets } from '../../src/probes/prometheus.ts';
import type { TestLab } from '../support/lab.ts';
import { nearExpiry } from './transit-web.ts';

/** curl's exit codes: timed out; peer's certificate not verified (CA, or name). */
const CURL_TIMEOUT = 28;
const CURL_UNVERIFIED = 60;

export function exportersTransitSuite(lab: TestLab): void {
  const mon = monitorHost(lab.model);
  const monName = mon?.name ?? 'mon';
  const ca = trustedCa(hostPaths(lab.model, monName));
  /** Every endpoint the monitor scrapes over the network, labelled "job on host". */
  const targets = (): (ScrapeTarget & { job: string })[] =>
    SCRAPE_JOBS.flatMap((job) =>
      scrapeTargets(lab.model, job).map((t) => ({ ...t, job: job.job })),
    );
  const label = (t: { job: string; host: string }): string => `${t.job} on ${t.host}`;

  /** curl from the monitor to `address` as `name` (resolved to it), with `flags`. */
  async function curlAs(
    name: string,
    address: string,
    flags: readonly string[],
  ): Promise<{ exitCode: number; status: string; body: string; stderr: string }> {
    const port = address.slice(address.lastIndexOf(':') + 1);
    const ip = address.slice(0, address.lastIndexOf(':'));
    const result = await lab.on(monName, [
      'curl',
      '-sS',
      '--max-time',
      '3',
      '-w',
      '\n%{http_code}',
      '--resolve',
      `${name}:${port}:${ip}`,
      ...flags,
      `https://${name}:${port}/metrics`,
    ]);
    const cut = result.stdout.lastIndexOf('\n');
    return {
      exitCode: result.exitCode,
      status: result.stdout.slice(cut + 1),
      body: result.stdout.slice(0, Math.max(cut, 0)),
      stderr: result.stderr.trim(),
    };
  }

  /** The serial of the certificate an endpoint presents, verified by its name, from the monitor. */
  async function servedSerial(t: ScrapeTarget): Promise<string> {
    const result = await lab.on(monName, [
      'openssl',
      's_client',
      '-connect',
      t.address,
      '-servername',
      t.serverName ?? '',
      '-verify_hostname',
      t.serverName ?? '',
      '-CAfile',
      ca,
      '-verify_return_error',
      '-showcerts',
    ]);
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(
      result.stdout,
    )?.[0];
    assert.ok(pem !== undefined, `${t.address} presents a verified certificate:\n${result.stderr}`);
    return new X509Certificate(pem).serialNumber;
  }

  /** Waits (bounded) until Prometheus has every target up; the seconds taken. */
  async function allUp(timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      const seen = await prometheusTargets(lab.ctx);
      const down = 'error' in seen ? [seen.error] : seen.filter((t) => !t.up).map((t) => label(t));
      if (down.length === 0) return (Date.now() - started) / 1000;
      if (Date.now() - started > timeoutMs) assert.fail(`down: ${down.join(', ')}`);
      await sleep(500);
    }
  }

  describe('encryption behind the edge: Prometheus → exporters', () => {
    it('Prometheus scrapes every exporter over https, verified by its host’s name against the lab CA, and every one is up', async () => {
      const seen = await prometheusTargets(lab.ctx);
      assert.ok(!('error' in seen), JSON.stringify(seen));
      const remote = new Set(SCRAPE_JOBS.map((job) => job.job));
      const scraped = seen.filter((t) => remote.has(t.job));
      assert.deepEqual(scraped.map(label).sort(), targets().map(label).sort());
      for (const t of scraped) {
        assert.match(t.url, /^https:\/\//, label(t));
        assert.ok(t.up, `${label(t)}: ${t.lastError}`);
      }
    });

    it('no exporter gives metrics in clear text; a client without the lab CA, or expecting another host, fails verification', async (t) => {
      const figures: string[] = [];
      for (const target of targets()) {
        const what = label(target);
        const name = target.serverName ?? '';
        const good = await curlAs(name, target.address, ['--cacert', ca]);
        assert.equal(good.status, '200', `${what}: ${good.stderr}`);
        assert.match(good.body, /^# (HELP|TYPE) /m, what);
        // Plain HTTP to the same port, from the host the firewall lets in: no metrics. The Go
        // exporters answer 400 ("an HTTP request to an HTTPS server"); HAProxy and Node.js end the
        // connection.
        const plainResult = await lab.on(monName, [
          'curl',
          '-sS',
          '--max-time',
          '3',
          '-w',
          '\n%{http_code}',
          `http://${target.address}/metrics`,
        ]);
        const plainStatus = plainResult.stdout.slice(plainResult.stdout.lastIndexOf('\n') + 1);
        assert.ok(
          plainResult.exitCode !== 0 || plainStatus === '400',
          `${what}: plain HTTP answered ${plainStatus}`,
        );
        assert.doesNotMatch(plainResult.stdout, /^# (HELP|TYPE) /m, `${what}: metrics in clear`);
        // The system's authorities only: the lab's CA is not among them.
        const noCa = await curlAs(name, target.address, []);
        assert.equal(noCa.exitCode, CURL_UNVERIFIED, `${what} without the CA: ${noCa.stderr}`);
        // The lab's CA, but the name of another host: the certificate does not name it.
        const other = `not-${name}`;
        const wrong = await curlAs(other, target.address, ['--cacert', ca]);
        assert.equal(wrong.exitCode, CURL_UNVERIFIED, `${what} as ${other}: ${wrong.stderr}`);
        figures.push(`${what}: plain exit ${plainResult.exitCode} status ${plainStatus}`);
      }
      t.diagnostic(figures.join('; '));
    });

    it('HAProxy’s stats page: over TLS to the admin on the edge, verified by the load balancer’s name; plain HTTP refused', async () => {
      const caFile = labPaths(lab.model).caCertificate;
      for (const lb of hostsWithRole(lab.model, 'lb')) {
        const edge = addressOf(lb, 'edge');
        const name = `${lb.name}.edge.${lab.model.domain}`;
        const port = lab.model.ports.lbStats;
        const tls = await lab.on(null, [
          'curl',
          '-sS',
          '--max-time',
          '3',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--cacert',
          caFile,
          '--resolve',
          `${name}:${port}:${edge}`,
          `https://${name}:${port}/metrics`,
        ]);
        assert.equal(tls.stdout, '200', `${lb.name}: ${tls.stderr}`);
        const plain = await lab.on(null, [
          'curl',
          '-sS',
          '--max-time',
          '3',
          `http://${edge}:${port}/metrics`,
        ]);
        // HAProxy fails the handshake and closes: no answer, at once.
        assert.notEqual(plain.exitCode, 0, `${lb.name}: plain HTTP on the edge answered`);
        assert.notEqual(plain.exitCode, CURL_TIMEOUT, `${lb.name}: plain HTTP timed out`);
      }
    });

    it('each host’s exporters’ key is 0600, owned by prometheus (Debian’s exporters’ user)', async () => {
      for (const host of lab.model.hosts.filter((h: Host) => jobsOn(h).length > 0)) {
        const key = transitFiles(hostPaths(lab.model, host.name), 'exporters').key;
        const stat = await lab.on(host.name, ['stat', '-c', '%a %U', key]);
        assert.equal(stat.stdout.trim(), '600 prometheus', `${host.name}: ${key}`);
      }
    });

    it('`up` renews the exporters’ certificates with a third of their lifetime left: every endpoint serves the new one and Prometheus keeps every target', async (t) => {
      const left = (SERVICE_CERTIFICATE_DAYS / 3 - 1) * 24 * 3600 * 1000;
      const hosts = lab.model.hosts.filter((h: Host) => jobsOn(h).length > 0);
      for (const host of hosts) nearExpiry(lab, host.name, 'exporters', left);
      // The app's metrics come through Nginx, with Nginx's certificate (suites/transit-web.ts).
      const renewed = targets().filter((target) => target.job !== 'app');
      const before = new Map<string, string>();
      for (const target of renewed) before.set(label(target), await servedSerial(target));
      const started = Date.now();
      const up = await lab.cli('up');
      const upSeconds = (Date.now() - started) / 1000;
      assert.equal(up.exitCode, 0, up.stderr);
      for (const host of hosts)
        assert.match(up.stdout, new RegExp(`${host.name}: .*exporters certificate issued`));
      // Our own daemons look at their files every few seconds: bounded wait for each endpoint.
      const renewedAt = Date.now();
      for (const target of renewed) {
        for (;;) {
          const serial = await servedSerial(target);
          if (serial !== before.get(label(target))) break;
          if (Date.now() - renewedAt > 30_000) assert.fail(`${label(target)} serves the old one`);
          await sleep(500);
        }
      }
      const takenSeconds = (Date.now() - renewedAt) / 1000;
      const upAgainSeconds = await allUp(30_000);
      t.diagnostic(JSON.stringify({ upSeconds, takenSeconds, upAgainSeconds }));
    });
  });
}
