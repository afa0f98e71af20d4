import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { NetnsDriver } from '../drivers/netns.ts';
import { runProcess } from '../drivers/process.ts';
import { buildModel } from '../model/build.ts';
import { labPaths } from '../model/layout.ts';
import { createContext, type Context } from './context.ts';
import {
  CA_KEY_SECRET,
  certificateProblem,
  ensureCertificates,
  newPrivateKey,
  type Issued,
} from './tls.ts';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Runs `test` with a lab whose state is in a temporary directory, removed afterwards. */
async function withScratchLab(test: (ctx: Context, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-tls-'));
  const model = buildModel({ lab: { name: 'tls', stateDir: dir } });
  try {
    // Every command of this step runs on this machine: no namespace is needed.
    await test(createContext(model, new NetnsDriver((h) => h)), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function opensslVerify(ctx: Context, name: string): Promise<string> {
  const paths = labPaths(ctx.model);
  const result = await runProcess([
    'openssl',
    'verify',
    '-x509_strict',
    '-verify_hostname',
    name,
    '-CAfile',
    paths.caCertificate,
    paths.siteCertificate,
  ]);
  return `${result.stdout}${result.stderr}`.trim();
}

describe('ensureCertificates', () => {
  it('creates a CA (key 0600) and a certificate for the domain and www that openssl verifies', () =>
    withScratchLab(async (ctx) => {
      const first = await ensureCertificates(ctx);
      assert.equal(first.outcome, 'CA created, certificate for www.foobar.com, foobar.com issued');
      assert.equal(statSync(ctx.secrets.pathOf(CA_KEY_SECRET)).mode & 0o777, 0o600);
      assert.equal(statSync(path.dirname(ctx.secrets.pathOf(CA_KEY_SECRET))).mode & 0o777, 0o700);
      for (const name of ['www.foobar.com', 'foobar.com'])
        assert.match(await opensslVerify(ctx, name), /: OK$/);
      assert.match(await opensslVerify(ctx, 'www.example.org'), /hostname mismatch/);
      assert.match(first.bundle, /-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----/);

      const second = await ensureCertificates(ctx);
      assert.equal(second.outcome, 'up to date');
      assert.equal(second.bundle, first.bundle);
    }));

  it('replaces the CA and the certificate when the domain changes', () =>
    withScratchLab(async (ctx, dir) => {
      await ensureCertificates(ctx);
      const moved = createContext(
        buildModel({ domain: 'example.org', lab: { name: 'tls', stateDir: dir } }),
        ctx.driver,
      );
      const result = await ensureCertificates(moved);
      assert.match(
        result.outcome,
        /^CA replaced \(was made for \/O=foobar lab tls\/CN=foobar CA for foobar\.com\), certificate for www\.example\.org, example\.org issued$/,
      );
      assert.match(await opensslVerify(moved, 'www.example.org'), /: OK$/);
    }));

  it('the CA cannot sign for another domain (name constraint)', () =>
    withScratchLab(async (ctx, dir) => {
      await ensureCertificates(ctx);
      const paths = labPaths(ctx.model);
      const other = path.join(dir, 'other.key');
      writeFileSync(other, newPrivateKey(), { mode: 0o600 });
      const forged = await runProcess([
        'openssl',
        'req',
        '-new',
        '-x509',
        '-key',
        other,
        '-subj',
        '/CN=www.example.org',
        '-addext',
        'subjectAltName=DNS:www.example.org',
        '-days',
        '1',
        '-CA',
        paths.caCertificate,
        '-CAkey',
        ctx.secrets.pathOf(CA_KEY_SECRET),
      ]);
      const file = path.join(dir, 'forged.crt');
      writeFileSync(file, forged.stdout);
      const verify = await runProcess(['openssl', 'verify', '-CAfile', paths.caCertificate, file]);
      assert.notEqual(verify.exitCode, 0);
      assert.match(verify.stdout + verify.stderr, /permitted subtree violation/);
    }));

  it('reissues when the record is missing, the file changed, the key, names or CA changed, or expiry nears', () => {
    const wanted = {
      privateKey: newPrivateKey(),
      subject: '/CN=www.a.org',
      names: ['www.a.org'],
      issuer: 'CA1',
    };
    const day = 24 * 3600 * 1000;
    const now = Date.parse('2026-01-01T00:00:00Z');
    const record = (over: Partial<Issued> = {}): string =>
      JSON.stringify({
        certificate: sha('PEM'),
        key: sha(wanted.privateKey),
        subject: wanted.subject,
        names: wanted.names,
        issuer: sha('CA1'),
        notAfter: new Date(now + 100 * day).toISOString(),
        ...over,
      });
    const problem = (
      pem: string | undefined,
      text: string | undefined,
      w = wanted,
    ): string | undefined => certificateProblem(pem, text, w, now);
    assert.equal(problem('PEM', record()), undefined);
    assert.equal(problem('PEM', undefined), 'missing');
    assert.equal(problem('EDITED', record()), 'changed since foobar issued it');
    assert.equal(
      problem('PEM', record(), { ...wanted, privateKey: newPrivateKey() }),
      'not for the current key',
    );
    assert.equal(
      problem('PEM', record(), { ...wanted, names: ['www.b.org'] }),
      'for www.a.org, not www.b.org',
    );
    assert.equal(
      problem('PEM', record(), { ...wanted, issuer: 'CA2' }),
      'not signed by the current CA',
    );
    assert.match(
      problem('PEM', record({ notAfter: new Date(now + 29 * day).toISOString() })) ?? '',
      /^expires 2026-01-30/,
    );
  });
});
