import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runProcess } from '../drivers/process.ts';
import { RecordingDriver } from '../drivers/recording.ts';
import { buildModel } from '../model/build.ts';
import { acmeCertificateProblem, ensureAcmeCertificate, type AcmeWanted } from './acme.ts';
import { createContext } from './context.ts';
import { newPrivateKey } from './tls.ts';

const DAY = 24 * 3600 * 1000;
const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-acme-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A certificate for `key` and `names`, valid from now for `days`, as a CA would issue it. */
async function certificate(key: string, names: readonly string[], days: number): Promise<string> {
  const keyFile = path.join(dir, 'key.pem');
  writeFileSync(keyFile, key, { mode: 0o600 });
  const result = await runProcess([
    'openssl',
    'req',
    '-new',
    '-x509',
    '-key',
    keyFile,
    '-subj',
    `/CN=${names[0] ?? ''}`,
    '-days',
    String(days),
    '-addext',
    `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
  ]);
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout;
}

describe('acmeCertificateProblem', () => {
  const directory = 'https://acme.example/dir';
  const record = JSON.stringify({ directory });
  const key = newPrivateKey();
  const want: AcmeWanted = { directory, names: ['www.foobar.com', 'foobar.com'], privateKey: key };

  it('orders when there is none, or it is unreadable', () => {
    assert.equal(acmeCertificateProblem(undefined, record, want), 'missing');
    assert.equal(acmeCertificateProblem('not a certificate', record, want), 'unreadable');
  });

  it('keeps a certificate until a third of its lifetime is left (Let’s Encrypt’s 90 days: 30)', async () => {
    const pem = await certificate(key, want.names, 90);
    const now = Date.now();
    assert.equal(acmeCertificateProblem(pem, record, want, now), undefined);
    assert.equal(acmeCertificateProblem(pem, record, want, now + 59 * DAY), undefined);
    assert.match(
      acmeCertificateProblem(pem, record, want, now + 61 * DAY) ?? '',
      /^less than a third of its lifetime left \(expires \d{4}-/,
    );
  });

  it('renews within renewBeforeSeconds of expiry when it is given (certbot’s renew_before_expiry)', async () => {
    const pem = await certificate(key, want.names, 90);
    const now = Date.now();
    const early = { ...want, renewBeforeSeconds: 45 * 86400 };
    assert.equal(acmeCertificateProblem(pem, record, early, now + 44 * DAY), undefined);
    assert.match(
      acmeCertificateProblem(pem, record, early, now + 46 * DAY) ?? '',
      /^expires within renewBeforeSeconds \(3888000 s\): \d{4}-/,
    );
  });

  it('orders again for another CA, another key or other names', async () => {
    const pem = await certificate(key, want.names, 90);
    assert.equal(
      acmeCertificateProblem(pem, JSON.stringify({ directory: 'https://other/dir' }), want),
      'from https://other/dir',
    );
    assert.equal(
      acmeCertificateProblem(pem, record, { ...want, privateKey: newPrivateKey() }),
      'not for the current key',
    );
    const apexOnly = await certificate(key, ['foobar.com'], 90);
    assert.equal(
      acmeCertificateProblem(apexOnly, record, want),
      'for foobar.com, not www.foobar.com, foobar.com',
    );
  });
});

describe('ensureAcmeCertificate', () => {
  it('orders nothing on a dry run: it says what it would order, from where, and why', async () => {
    const directory = 'https://acme.example/dir';
    const model = buildModel({ tls: { acme: { directory } } });
    const driver = new RecordingDriver(undefined, { simulate: true });
    const outcome = await ensureAcmeCertificate(createContext(model, driver), true);
    assert.equal(outcome, `would order from ${directory} (missing)`);
    assert.deepEqual(
      driver.calls.filter((line) => /map|ssl cert/.test(line)),
      [],
    );
  });
});
