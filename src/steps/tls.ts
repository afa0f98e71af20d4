/**
 * The lab's certificate authority and the site's certificate. The CA is created on the first `up`
 * (its key 0600 in the secrets directory) and only for the lab's domain: a name constraint keeps
 * it from vouching for any other site, should a browser that trusts it meet its key elsewhere.
 * The site's certificate (the domain and www) is reissued when it nears expiry, when the domain
 * changes, or when the CA was replaced.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import type { Command } from '../drivers/driver.ts';
import { openssl } from '../commands/openssl.ts';
import { labPaths } from '../model/layout.ts';
import type { Model } from '../model/model.ts';
import type { Context } from './context.ts';

export const CA_KEY_SECRET = 'ca.key';
export const SITE_KEY_SECRET = 'site.key';
const CA_DAYS = 3650;
/** Browsers refuse server certificates valid for more than 398 days. */
const SITE_DAYS = 397;
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

/** A new private key: ECDSA P-256, PKCS#8 PEM (Mozilla's recommended certificate type). */
export function newPrivateKey(): string {
  return generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
}

export function siteNames(model: Model): string[] {
  return [`www.${model.domain}`, model.domain];
}

/** The CA's subject names the lab and the domain, so a CA of another domain is not reused. */
export function caSubject(model: Model): string {
  return `/O=foobar lab ${model.lab.name}/CN=${`foobar CA for ${model.domain}`.slice(0, 64)}`;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * What foobar asked for when it issued a certificate, kept beside it (`<cert>.json`): the check
 * below reads this, not the certificate, so it gives the same answer on a dry run (where openssl
 * prints nothing) as on the lab.
 */
export interface Issued {
  /** SHA-256 of the certificate's PEM, as written. */
  readonly certificate: string;
  /** SHA-256 of the private key's PEM. */
  readonly key: string;
  readonly subject: string;
  readonly names: readonly string[];
  /** SHA-256 of the issuing CA's PEM; empty for the CA itself. */
  readonly issuer: string;
  readonly notAfter: string;
}

export interface Wanted {
  readonly privateKey: string;
  readonly subject: string;
  readonly names: readonly string[];
  /** The CA's PEM, or empty for the CA itself. */
  readonly issuer: string;
}

function issuedFor(wanted: Wanted, pem: string, days: number, now: number): Issued {
  return {
    certificate: sha256(pem),
    key: sha256(wanted.privateKey),
    subject: wanted.subject,
    names: wanted.names,
    issuer: wanted.issuer === '' ? '' : sha256(wanted.issuer),
    notAfter: new Date(now + days * 24 * 3600 * 1000).toISOString(),
  };
}

/** Why a certificate must be (re)issued, or undefined when it is good for another `renewBeforeMs`. */
export function certificateProblem(
  pem: string | undefined,
  record: string | undefined,
  wanted: Wanted,
  now = Date.now(),
  renewBeforeMs = RENEW_BEFORE_MS,
): string | undefined {
  let issued: Issued;
  try {
    issued = JSON.parse(record ?? '') as Issued;
  } catch {
    return 'missing';
  }
  if (pem === undefined || issued.certificate !== sha256(pem))
    return 'changed since foobar issued it';
  if (issued.key !== sha256(wanted.privateKey)) return 'not for the current key';
  if (issued.subject !== wanted.subject) return `made for ${issued.subject}`;
  if (issued.names.join(',') !== wanted.names.join(','))
    return `for ${issued.names.join(', ')}, not ${wanted.names.join(', ')}`;
  if (issued.issuer !== (wanted.issuer === '' ? '' : sha256(wanted.issuer)))
    return 'not signed by the current CA';
  if (Date.parse(issued.notAfter) - now < renewBeforeMs) return `expires ${issued.notAfter}`;
  return undefined;
}

/** Issues the certificate at `file` unless the one there is still what is wanted. */
export async function ensureCertificate(
  ctx: Context,
  file: string,
  wanted: Wanted,
  days: number,
  issue: () => Command,
  renewBeforeMs = RENEW_BEFORE_MS,
): Promise<{ pem: string; problem: string | undefined }> {
  const record = `${file}.json`;
  const current = await ctx.driver.readFile(null, file);
  const problem = certificateProblem(
    current,
    await ctx.driver.readFile(null, record),
    wanted,
    Date.now(),
    renewBeforeMs,
  );
  if (problem === undefined) return { pem: current ?? '', problem };
  const pem = (await ctx.driver.exec(null, issue())).stdout;
  await ctx.driver.writeFile(null, file, pem, 0o644);
  const issued = issuedFor(wanted, pem, days, Date.now());
  await ctx.driver.writeFile(null, record, `${JSON.stringify(issued, null, 2)}\n`, 0o644);
  return { pem, problem };
}

export interface SiteCertificate {
  /** Certificate then key, PEM: what HAProxy loads. */
  readonly bundle: string;
  readonly outcome: string;
}

/** A key from the secrets store, made on first use; the same text on every read. */
export async function privateKey(ctx: Context, name: string): Promise<string> {
  return (await ctx.secrets.get(name, newPrivateKey)).trimEnd();
}

/** Creates what is missing or stale, and returns the site's certificate for the load balancers. */
export async function ensureCertificates(ctx: Context, offline = false): Promise<SiteCertificate> {
  const paths = labPaths(ctx.model);
  const caKeyFile = ctx.secrets.pathOf(CA_KEY_SECRET);
  const done: string[] = [];

  const caWanted: Wanted = {
    privateKey: await privateKey(ctx, CA_KEY_SECRET),
    subject: caSubject(ctx.model),
    names: [],
    issuer: '',
  };
  const ca = await ensureCertificate(ctx, paths.caCertificate, caWanted, CA_DAYS, () =>
    openssl.selfSigned({
      key: caKeyFile,
      subject: caWanted.subject,
      days: CA_DAYS,
      extensions: [
        'basicConstraints=critical,CA:TRUE,pathlen:0',
        'keyUsage=critical,keyCertSign,cRLSign',
        `nameConstraints=critical,permitted;DNS:${ctx.model.domain}`,
      ],
    }),
  );
  if (ca.problem !== undefined)
    done.push(ca.problem === 'missing' ? 'CA created' : `CA replaced (was ${ca.problem})`);

  const names = siteNames(ctx.model);
  const siteKey = await privateKey(ctx, SITE_KEY_SECRET);
  const siteWanted: Wanted = {
    privateKey: siteKey,
    subject: `/CN=${names[0] ?? ctx.model.domain}`,
    names,
    issuer: ca.pem,
  };
  const site = await ensureCertificate(ctx, paths.siteCertificate, siteWanted, SITE_DAYS, () =>
    openssl.signed(
      {
        key: ctx.secrets.pathOf(SITE_KEY_SECRET),
        subject: siteWanted.subject,
        days: SITE_DAYS,
        extensions: [
          `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth',
        ],
      },
      { cert: paths.caCertificate, key: caKeyFile },
    ),
  );
  if (site.problem !== undefined) done.push(`certificate for ${names.join(', ')} issued`);
  // A new CA changes the trust with it; otherwise only the ACME CA's roots do.
  if ((await ensureSiteTrust(ctx, ca.pem, offline)) && ca.problem === undefined)
    done.push('trusted roots updated');
  return {
    bundle: `${site.pem}${siteKey}\n`,
    outcome: done.length === 0 ? 'up to date' : done.join(', '),
  };
}

/** Where the roots of public CAs are on Debian (ca-certificates). */
export const SYSTEM_ROOTS = '/etc/ssl/certs/ca-certificates.crt';

/**
 * The authorities foobar's own clients (status, the monitor's probes, the tests' visitors) trust
 * for the site: the lab's CA, and with `tls.acme` the roots its certificates chain to. True when
 * the file changed.
 */
async function ensureSiteTrust(ctx: Context, caPem: string, offline: boolean): Promise<boolean> {
  const roots =
    ctx.model.tls.acme === undefined ? undefined : (ctx.model.tls.acme.roots ?? SYSTEM_ROOTS);
  let extra = '';
  if (roots !== undefined) {
    const text = await ctx.driver.readFile(null, roots);
    // A dry run sees none of this machine's files.
    if (text === undefined && !offline)
      throw new Error(`tls.acme.roots: ${roots} is missing: give the PEM of the ACME CA's roots`);
    extra = text ?? '';
  }
  const file = labPaths(ctx.model).siteTrust;
  const content = `${caPem.trimEnd()}\n${extra}`;
  if ((await ctx.driver.readFile(null, file)) === content) return false;
  await ctx.driver.writeFile(null, file, content, 0o644);
  return true;
}
