/**
 * Encryption behind the edge, as the database's clients meet it: a client without TLS is refused,
 * one that verifies the server by name is accepted; every server presents a lab-CA certificate
 * for its own core name and address; replication is TLS with the source verified; a renewed
 * certificate is taken without a restart and without a failed request.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { summarizeVisits } from '../../src/load/visits.ts';
import type { DbUser } from '../../src/model/database.ts';
import { hostPaths, labPaths } from '../../src/model/layout.ts';
import { addressOf } from '../../src/model/model.ts';
import { coreName, SERVICE_CERTIFICATE_DAYS, trustedCa } from '../../src/model/transit.ts';
import { mariadbFiles } from '../../src/render/mariadb/index.ts';
import { readDbState, replicasOf } from '../../src/steps/db/state.ts';
import type { Issued } from '../../src/steps/tls.ts';
import { sql, sqlAs, visitorsAround } from '../support/db.ts';
import { assertServed, type TestLab } from '../support/lab.ts';

/** Every account used over the network, from a host it may log in from. */
const NETWORK_ACCOUNTS: readonly { user: Exclude<DbUser, 'admin' | 'monitor'>; from: string }[] = [
  { user: 'app', from: 'web-01' },
  { user: 'replication', from: 'db-02' },
  { user: 'failover', from: 'lb-01' },
  { user: 'backup', from: 'backup' },
];

export function transitSuite(lab: TestLab): void {
  /** An openssl s_client handshake (MySQL's STARTTLS) from `from` to a database server. */
  async function handshake(from: string, server: string, verify: string[]): Promise<string> {
    const result = await lab.on(from, [
      'openssl',
      's_client',
      '-starttls',
      'mysql',
      '-connect',
      `${addressOf(lab.host(server), 'core')}:${lab.model.ports.mysql}`,
      '-CAfile',
      trustedCa(hostPaths(lab.model, from)),
      '-verify_return_error',
      ...verify,
    ]);
    return `${result.stdout}\n${result.stderr}`;
  }

  /** The serial number of the certificate a database server presents now. */
  async function servedSerial(server: string): Promise<string> {
    const out = await handshake('web-01', server, ['-showcerts']);
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0];
    assert.ok(pem !== undefined, `${server} presents a certificate:\n${out}`);
    return new X509Certificate(pem).serialNumber;
  }

  describe('encryption behind the edge: the database tier', () => {
    it('refuses every network account without TLS, and accepts it with the server verified against the lab CA (TLS 1.3)', async () => {
      const { primary } = await readDbState(lab.ctx);
      for (const { user, from } of NETWORK_ACCOUNTS) {
        const plain = await sqlAs(lab, user, from, primary, 'SELECT 1', undefined, 'plain');
        assert.notEqual(plain.exitCode, 0, `${user} from ${from} without TLS: ${plain.stdout}`);
        assert.match(plain.stderr, /Access denied|insecure transport/);
        const verified = await sqlAs(
          lab,
          user,
          from,
          primary,
          "SHOW SESSION STATUS LIKE 'Ssl_version'",
        );
        assert.equal(verified.exitCode, 0, `${user} from ${from} with TLS: ${verified.stderr}`);
        assert.equal(verified.stdout.trim(), 'Ssl_version\tTLSv1.3');
      }
    });

    it('each server presents a lab-CA certificate for its own core name and address, not for another', async () => {
      const state = await readDbState(lab.ctx);
      const servers = [state.primary, ...replicasOf(lab.ctx, state).map((h) => h.name)];
      for (const server of servers) {
        const host = lab.host(server);
        const byName = await handshake('web-01', server, [
          '-verify_hostname',
          coreName(lab.model, host),
        ]);
        assert.match(byName, /Verify return code: 0 \(ok\)/, byName);
        assert.match(byName, new RegExp(`Verified peername: ${coreName(lab.model, host)}`));
        const byAddress = await handshake('web-01', server, [
          '-verify_ip',
          addressOf(host, 'core'),
        ]);
        assert.match(byAddress, /Verify return code: 0 \(ok\)/, byAddress);
        const other = servers.find((s) => s !== server) ?? 'web-01';
        const wrong = await handshake('web-01', server, [
          '-verify_hostname',
          coreName(lab.model, lab.host(other)),
        ]);
        assert.match(wrong, /hostname mismatch/, wrong);
      }
    });

    it('replication is TLS with the source verified, and the app reaches the servers only over it', async () => {
      const state = await readDbState(lab.ctx);
      for (const replica of replicasOf(lab.ctx, state)) {
        const rows = await sql(
          lab,
          replica.name,
          "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_RUNNING'",
        );
        assert.deepEqual(rows, [['ON']], `${replica.name} replicates`);
        const status = await lab.on(replica.name, [
          'mariadb',
          `--defaults-file=${mariadbFiles(hostPaths(lab.model, replica.name)).adminClient}`,
          '-e',
          'SHOW SLAVE STATUS\\G',
        ]);
        assert.match(status.stdout, /Master_SSL_Allowed: Yes/);
        assert.match(status.stdout, /Master_SSL_Verify_Server_Cert: Yes/);
        assert.match(
          status.stdout,
          new RegExp(`Master_SSL_CA_File: ${trustedCa(hostPaths(lab.model, replica.name))}`),
        );
      }
      const [[secure] = []] = await sql(lab, state.primary, 'SELECT @@require_secure_transport');
      assert.equal(secure, '1');
      const site = await lab.on('client', [
        'curl',
        '-sS',
        '--cacert',
        labPaths(lab.model).caCertificate,
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `https://www.${lab.model.domain}/api/messages`,
      ]);
      assert.equal(site.stdout, '200', site.stderr);
    });

    it('`up` renews a certificate with a third of its lifetime left: MariaDB takes it without a restart, no request fails', async (t) => {
      const { primary } = await readDbState(lab.ctx);
      const record = path.join(
        labPaths(lab.model).state,
        'tls',
        'services',
        `${primary}-mariadb.crt.json`,
      );
      // As if two thirds of its lifetime had passed (and a day more).
      const issued = JSON.parse(readFileSync(record, 'utf8')) as Issued;
      const left = (SERVICE_CERTIFICATE_DAYS / 3 - 1) * 24 * 3600 * 1000;
      writeFileSync(
        record,
        JSON.stringify({ ...issued, notAfter: new Date(Date.now() + left).toISOString() }),
      );
      const pidFile = mariadbFiles(hostPaths(lab.model, primary)).pid;
      const pidBefore = readFileSync(pidFile, 'utf8');
      const serialBefore = await servedSerial(primary);

      const prefix = `transit-${process.pid}`;
      // New connections after the renewal: the app's pools open some.
      const {
        result: up,
        seconds,
        report,
      } = await visitorsAround(lab, prefix, () => lab.cli('up'));
      const served = summarizeVisits(report);
      t.diagnostic(JSON.stringify({ upSeconds: seconds, requests: served.requests }));
      assert.equal(up.exitCode, 0, up.stderr);
      assert.match(
        up.stdout,
        new RegExp(`${primary}: .*mariadb certificate issued, mariadb reloaded it`),
      );
      assert.notEqual(await servedSerial(primary), serialBefore, 'the new certificate is served');
      assert.equal(readFileSync(pidFile, 'utf8'), pidBefore, 'MariaDB was not restarted');
      assertServed(served, ['page', 'read', 'write'], 5);
    });
  });
}
