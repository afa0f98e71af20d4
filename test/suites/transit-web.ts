/**
 * Encryption behind the edge, from the load balancers to the web servers, as the hosts on the
 * core network meet it: Nginx answers there over TLS 1.3 only, with a lab-CA certificate for its
 * own core name; a web server that presents another certificate is taken out of rotation by the
 * load balancers' checks without a visitor noticing; a renewed certificate is taken by a graceful
 * reload without a failed request.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { summarizeVisits } from '../../src/load/visits.ts';
import { hostPaths, labPaths } from '../../src/model/layout.ts';
import { addressOf, hostsWithRole } from '../../src/model/model.ts';
import {
  coreName,
  SERVICE_CERTIFICATE_DAYS,
  transitFiles,
  trustedCa,
  type TlsService,
} from '../../src/model/transit.ts';
import { backendServers } from '../../src/probes/haproxy.ts';
import { nginxFiles } from '../../src/render/nginx/index.ts';
import { runningPid } from '../../src/steps/daemon.ts';
import { nginxDaemon } from '../../src/steps/services.ts';
import { liveSlot } from '../../src/steps/slots.ts';
import type { Issued } from '../../src/steps/tls.ts';
import { visitorsAround } from '../support/db.ts';
import { assertServed, type TestLab } from '../support/lab.ts';

/**
 * Makes `up` believe a service certificate expires in `leftMs` (its issuance record says so): the
 * next `up` renews it.
 */
export function nearExpiry(lab: TestLab, host: string, service: TlsService, leftMs: number): void {
  const record = path.join(
    labPaths(lab.model).state,
    'tls',
    'services',
    `${host}-${service}.crt.json`,
  );
  const issued = JSON.parse(readFileSync(record, 'utf8')) as Issued;
  writeFileSync(
    record,
    JSON.stringify({ ...issued, notAfter: new Date(Date.now() + leftMs).toISOString() }),
  );
}

export function webTransitSuite(lab: TestLab): void {
  const [lb] = hostsWithRole(lab.model, 'lb');
  const webs = hostsWithRole(lab.model, 'web');

  /** An openssl s_client handshake from a load balancer to a web server's Nginx on the core. */
  async function handshake(web: string, flags: readonly string[]): Promise<string> {
    const result = await lab.on(lb?.name ?? 'lb-01', [
      'openssl',
      's_client',
      '-connect',
      `${addressOf(lab.host(web), 'core')}:${lab.model.ports.https}`,
      '-CAfile',
      trustedCa(hostPaths(lab.model, lb?.name ?? 'lb-01')),
      '-verify_return_error',
      ...flags,
    ]);
    return `${result.stdout}\n${result.stderr}`;
  }

  async function servedSerial(web: string): Promise<string> {
    const out = await handshake(web, ['-showcerts']);
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0];
    assert.ok(pem !== undefined, `${web} presents a certificate:\n${out}`);
    return new X509Certificate(pem).serialNumber;
  }

  /** Every load balancer's view of a web server: HAProxy's status word for it. */
  async function statuses(web: string): Promise<string[]> {
    return Promise.all(
      hostsWithRole(lab.model, 'lb').map(async (l) => {
        const servers = await backendServers(lab.ctx, l.name);
        if ('error' in servers) return servers.error;
        return servers.find((s) => s.name === web)?.status ?? 'missing';
      }),
    );
  }

  /** Waits (bounded) until every load balancer says `want` of the web server; the seconds taken. */
  async function waitStatus(web: string, want: RegExp, timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      const seen = await statuses(web);
      if (seen.every((s) => want.test(s))) return (Date.now() - started) / 1000;
      if (Date.now() - started > timeoutMs)
        assert.fail(`${web}: load balancers say ${seen.join(', ')}, not ${String(want)}`);
      await sleep(100);
    }
  }

  /** Nginx on a web server reloads (SIGHUP): its new workers read the certificate files again. */
  async function reloadNginx(web: string): Promise<void> {
    const host = lab.host(web);
    const daemon = nginxDaemon(lab.ctx, host, await liveSlot(lab.ctx, web));
    const pid = await runningPid(lab.ctx, daemon);
    assert.ok(pid !== undefined, `${web}: nginx runs`);
    await lab.ctx.platform.supervisor.reload(lab.ctx, daemon, pid);
  }

  describe('encryption behind the edge: HAProxy → Nginx', () => {
    it('each web server answers the core network over TLS 1.3 only, with a lab-CA certificate for its core name; plain HTTP on loopback only', async () => {
      for (const web of webs) {
        const name = coreName(lab.model, web);
        const verified = await handshake(web.name, ['-verify_hostname', name]);
        assert.match(verified, /Verify return code: 0 \(ok\)/, verified);
        assert.match(verified, new RegExp(`Verified peername: ${name}`));
        assert.match(verified, /Protocol\s*: TLSv1\.3|New, TLSv1\.3/);
        const other = webs.find((w) => w !== web) ?? web;
        const wrong = await handshake(web.name, ['-verify_hostname', coreName(lab.model, other)]);
        assert.match(wrong, /hostname mismatch/, wrong);
        const old = await handshake(web.name, ['-tls1_2']);
        assert.match(old, /alert protocol version/, `${web.name} refuses TLS 1.2`);
        assert.match(old, /no peer certificate available/);
        // /readyz through TLS, verified by name, from a load balancer.
        const ready = await lab.on(lb?.name ?? 'lb-01', [
          'curl',
          '-sS',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--cacert',
          trustedCa(hostPaths(lab.model, lb?.name ?? 'lb-01')),
          '--resolve',
          `${name}:${lab.model.ports.https}:${addressOf(web, 'core')}`,
          `https://${name}/readyz`,
        ]);
        assert.equal(ready.stdout, '200', ready.stderr);
        // Clear text on the core network: nothing listens (and the firewall drops it).
        const plain = await lab.on(lb?.name ?? 'lb-01', [
          'curl',
          '-sS',
          '--max-time',
          '2',
          '-o',
          '/dev/null',
          `http://${addressOf(web, 'core')}:${lab.model.ports.http}/readyz`,
        ]);
        assert.notEqual(plain.exitCode, 0, `${web.name}: plain HTTP on the core answered`);
        // On the web server itself, the local agents still have plain HTTP on loopback.
        const local = await lab.on(web.name, [
          'curl',
          '-sS',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          `http://127.0.0.1:${lab.model.ports.http}/readyz`,
        ]);
        assert.equal(local.stdout, '200', local.stderr);
      }
    });

    it('a web server presenting another server’s certificate is taken out of rotation within seconds, and visitors see no failure', async (t) => {
      const [victim, other] = webs;
      assert.ok(victim !== undefined && other !== undefined, 'two web servers');
      const own = transitFiles(hostPaths(lab.model, victim.name), 'nginx');
      const theirs = transitFiles(hostPaths(lab.model, other.name), 'nginx');
      const kept = { cert: readFileSync(own.cert, 'utf8'), key: readFileSync(own.key, 'utf8') };
      let outSeconds = 0;
      let backSeconds = 0;
      const prefix = `wrongcert-${process.pid}`;
      const { result: up, report } = await visitorsAround(lab, prefix, async () => {
        try {
          // A valid lab-CA certificate, for the other web server's name.
          copyFileSync(theirs.cert, own.cert);
          copyFileSync(theirs.key, own.key);
          const swapped = Date.now();
          await reloadNginx(victim.name);
          await waitStatus(victim.name, /^DOWN/, 20_000);
          outSeconds = (Date.now() - swapped) / 1000;
          // Out of rotation for a while under the visitors.
          await sleep(3000);
        } finally {
          writeFileSync(own.cert, kept.cert);
          writeFileSync(own.key, kept.key, { mode: 0o600 });
        }
        // `up` would put the right one back too; here the files are, and Nginx reloads.
        const restored = Date.now();
        await reloadNginx(victim.name);
        await waitStatus(victim.name, /^UP$/, 20_000);
        backSeconds = (Date.now() - restored) / 1000;
        return lab.cli('up');
      });
      const served = summarizeVisits(report);
      t.diagnostic(
        JSON.stringify({
          outOfRotationSeconds: outSeconds,
          backInSeconds: backSeconds,
          requests: served.requests,
          failed: served.failed,
        }),
      );
      assert.equal(up.exitCode, 0, up.stderr);
      assert.ok(outSeconds < 15, `out of rotation in ${outSeconds} s`);
      assert.match(
        await handshake(victim.name, ['-verify_hostname', coreName(lab.model, victim)]),
        /Verify return code: 0 \(ok\)/,
      );
      assertServed(served, ['page', 'read', 'write'], 5);
    });

    it('`up` renews the web servers’ certificates with a third of their lifetime left: Nginx reloads (same master), the new one is served, no request fails', async (t) => {
      const left = (SERVICE_CERTIFICATE_DAYS / 3 - 1) * 24 * 3600 * 1000;
      const before: Record<string, { serial: string; pid: string }> = {};
      for (const web of webs) {
        nearExpiry(lab, web.name, 'nginx', left);
        before[web.name] = {
          serial: await servedSerial(web.name),
          pid: readFileSync(nginxFiles(hostPaths(lab.model, web.name)).pid, 'utf8'),
        };
      }
      const prefix = `webrenew-${process.pid}`;
      const {
        result: up,
        seconds,
        report,
      } = await visitorsAround(lab, prefix, () => lab.cli('up'));
      const served = summarizeVisits(report);
      t.diagnostic(
        JSON.stringify({ upSeconds: seconds, requests: served.requests, failed: served.failed }),
      );
      assert.equal(up.exitCode, 0, up.stderr);
      for (const web of webs) {
        assert.match(
          up.stdout,
          new RegExp(`${web.name}: .*nginx certificate issued, nginx reloaded it`),
        );
        assert.notEqual(await servedSerial(web.name), before[web.name]?.serial, web.name);
        assert.equal(
          readFileSync(nginxFiles(hostPaths(lab.model, web.name)).pid, 'utf8'),
          before[web.name]?.pid,
          `${web.name}: Nginx was reloaded, not restarted`,
        );
        assert.match(await statuses(web.name).then((s) => s.join(',')), /^UP(,UP)*$/);
      }
      assertServed(served, ['page', 'read', 'write'], 5);
    });
  });
}
