import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Target } from '../drivers/driver.ts';
import { NetnsDriver } from '../drivers/netns.ts';
import { runProcess } from '../drivers/process.ts';
import { buildModel } from '../model/build.ts';
import { hostPaths, labPaths } from '../model/layout.ts';
import { findHost, type Host } from '../model/model.ts';
import { SERVICE_CERTIFICATE_DAYS, transitFiles, trustedCa } from '../model/transit.ts';
import { createContext, type Context } from './context.ts';
import { ensureCertificates, type Issued } from './tls.ts';
import { ensureServiceCertificate, ensureTrustedCa } from './transit.ts';

/** Every host's commands on this machine, where the scratch lab's files are. */
class LocalDriver extends NetnsDriver {
  override argvFor(_target: Target, argv: readonly string[]): string[] {
    return [...argv];
  }
}

async function withScratchLab(test: (ctx: Context, db: Host) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-transit-'));
  const model = buildModel({ lab: { name: 'trans', stateDir: dir } });
  const db = findHost(model, 'db-01');
  assert.ok(db !== undefined);
  try {
    const ctx = createContext(model, new LocalDriver((h) => h));
    await ensureCertificates(ctx);
    await test(ctx, db);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function verify(ctx: Context, cert: string, check: string[]): Promise<string> {
  const result = await runProcess([
    'openssl',
    'verify',
    '-x509_strict',
    ...check,
    '-CAfile',
    labPaths(ctx.model).caCertificate,
    cert,
  ]);
  return `${result.stdout}${result.stderr}`.trim();
}

describe('service certificates behind the edge', () => {
  it("gives MariaDB a lab-CA certificate for its core name and address, its key 0600 and mysql's", () =>
    withScratchLab(async (ctx, db) => {
      assert.equal(await ensureServiceCertificate(ctx, db, 'mariadb'), true);
      const files = transitFiles(hostPaths(ctx.model, db.name), 'mariadb');
      assert.match(
        await verify(ctx, files.cert, ['-verify_hostname', 'db-01.core.foobar.com']),
        /: OK$/,
      );
      assert.match(await verify(ctx, files.cert, ['-verify_ip', '10.77.2.31']), /: OK$/);
      assert.match(
        await verify(ctx, files.cert, ['-verify_hostname', 'db-02.core.foobar.com']),
        /hostname mismatch/,
      );
      assert.match(
        await verify(ctx, files.cert, ['-verify_ip', '10.77.2.32']),
        /IP address mismatch/,
      );
      const key = statSync(files.key);
      assert.equal(key.mode & 0o777, 0o600);
      const mysql = await runProcess(['id', '-u', 'mysql']);
      assert.equal(key.uid, Number(mysql.stdout.trim()));
      assert.equal(
        readFileSync(files.ca, 'utf8'),
        readFileSync(labPaths(ctx.model).caCertificate, 'utf8'),
      );
      assert.equal(await ensureServiceCertificate(ctx, db, 'mariadb'), false);
    }));

  it("gives a database server a client certificate for the backup stream, for its own name, not a server one, its key 0600 and root's", () =>
    withScratchLab(async (ctx, db) => {
      assert.equal(await ensureServiceCertificate(ctx, db, 'backup-sender'), true);
      const files = transitFiles(hostPaths(ctx.model, db.name), 'backup-sender');
      assert.match(
        await verify(ctx, files.cert, [
          '-purpose',
          'sslclient',
          '-verify_hostname',
          'db-01.core.foobar.com',
        ]),
        /: OK$/,
      );
      assert.match(
        await verify(ctx, files.cert, [
          '-purpose',
          'sslclient',
          '-verify_hostname',
          'db-02.core.foobar.com',
        ]),
        /hostname mismatch/,
      );
      assert.match(
        await verify(ctx, files.cert, ['-purpose', 'sslserver']),
        /unsuitable certificate purpose/,
      );
      const key = statSync(files.key);
      assert.equal(key.mode & 0o777, 0o600);
      assert.equal(key.uid, 0);
    }));

  it('renews it when a third of its lifetime is left, with the same key', () =>
    withScratchLab(async (ctx, db) => {
      await ensureServiceCertificate(ctx, db, 'mariadb');
      const files = transitFiles(hostPaths(ctx.model, db.name), 'mariadb');
      const first = readFileSync(files.cert, 'utf8');
      const key = readFileSync(files.key, 'utf8');
      const record = path.join(
        labPaths(ctx.model).state,
        'tls',
        'services',
        'db-01-mariadb.crt.json',
      );
      const issued = JSON.parse(readFileSync(record, 'utf8')) as Issued;
      const day = 24 * 3600 * 1000;
      const rewrite = (daysLeft: number): void => {
        writeFileSync(
          record,
          JSON.stringify({
            ...issued,
            notAfter: new Date(Date.now() + daysLeft * day).toISOString(),
          }),
        );
      };
      rewrite(SERVICE_CERTIFICATE_DAYS / 3 + 1);
      assert.equal(await ensureServiceCertificate(ctx, db, 'mariadb'), false);
      rewrite(SERVICE_CERTIFICATE_DAYS / 3 - 1);
      assert.equal(await ensureServiceCertificate(ctx, db, 'mariadb'), true);
      assert.notEqual(readFileSync(files.cert, 'utf8'), first);
      assert.equal(readFileSync(files.key, 'utf8'), key);
    }));

  it("puts the CA's certificate on a host for its clients", () =>
    withScratchLab(async (ctx) => {
      const web = findHost(ctx.model, 'web-01');
      assert.ok(web !== undefined);
      assert.equal(await ensureTrustedCa(ctx, web), true);
      assert.equal(
        readFileSync(trustedCa(hostPaths(ctx.model, 'web-01')), 'utf8'),
        readFileSync(labPaths(ctx.model).caCertificate, 'utf8'),
      );
      assert.equal(await ensureTrustedCa(ctx, web), false);
    }));
});
