/**
 * The lab's certificate authority and the site's certificate. The CA is created on the first `up`
 * (its key 0600 in the secrets directory) and only for the lab's domain: a name constraint keeps
 * it from vouching for any other site, should a browser that trusts it meet its key elsewhere.
 * The site's certificate (the domain and www) is reissued when it nears expiry, when the domain
 * changes, or when the CA was replaced.
 */
import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
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
export function caSubject(model: Model): { subject: string; text: string } {
  const org = `foobar lab ${model.lab.name}`;
  const cn = `foobar CA for ${model.domain}`.slice(0, 64);
  return { subject: `/O=${org}/CN=${cn}`, text: `O=${org}\nCN=${cn}` };
}

function parse(pem: string | undefined): X509Certificate | undefined {
  if (pem === undefined || pem === '') return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function sameKey(cert: X509Certificate, privateKey: string): boolean {
  const der = (key: ReturnType<typeof createPublicKey>): Buffer =>
    key.export({ type: 'spki', format: 'der' });
  return der(cert.publicKey).equals(der(createPublicKey(privateKey)));
}

export interface Expected {
  readonly privateKey: string;
  /** The CA's subject (for the CA itself) ... */
  readonly subject?: string;
  /** ... or the CA that must have signed it and the names it must carry (for the site). */
  readonly issuer?: X509Certificate;
  readonly names?: readonly string[];
}

/** Why a certificate must be (re)issued, or undefined when it is good for another 30 days. */
export function certificateProblem(
  pem: string | undefined,
  expected: Expected,
  now = Date.now(),
): string | undefined {
  const cert = parse(pem);
  if (cert === undefined) return 'missing';
  if (!sameKey(cert, expected.privateKey)) return 'not for the current key';
  if (Date.parse(cert.validTo) - now < RENEW_BEFORE_MS) return `expires ${cert.validTo}`;
  if (expected.subject !== undefined && cert.subject !== expected.subject)
    return `made for ${cert.subject.replaceAll('\n', ', ')}`;
  if (expected.issuer !== undefined) {
    if (!cert.checkIssued(expected.issuer) || !cert.verify(expected.issuer.publicKey))
      return 'not signed by the current CA';
  }
  if (expected.names !== undefined) {
    const want = expected.names.map((n) => `DNS:${n}`).join(', ');
    if (cert.subjectAltName !== want) return `names ${cert.subjectAltName ?? 'none'}, not ${want}`;
  }
  return undefined;
}

export interface SiteCertificate {
  /** Certificate then key, PEM: what HAProxy loads. */
  readonly bundle: string;
  readonly outcome: string;
}

/** Creates what is missing or stale, and returns the site's certificate for the load balancers. */
export async function ensureCertificates(ctx: Context): Promise<SiteCertificate> {
  const paths = labPaths(ctx.model);
  const done: string[] = [];

  const caKey = await ctx.secrets.get(CA_KEY_SECRET, newPrivateKey);
  let caPem = await ctx.driver.readFile(null, paths.caCertificate);
  const { subject, text } = caSubject(ctx.model);
  const caProblem = certificateProblem(caPem, { privateKey: caKey, subject: text });
  if (caProblem !== undefined) {
    const issued = await ctx.driver.exec(
      null,
      openssl.selfSigned({
        key: ctx.secrets.pathOf(CA_KEY_SECRET),
        subject,
        days: CA_DAYS,
        extensions: [
          'basicConstraints=critical,CA:TRUE,pathlen:0',
          'keyUsage=critical,keyCertSign,cRLSign',
          `nameConstraints=critical,permitted;DNS:${ctx.model.domain}`,
        ],
      }),
    );
    caPem = issued.stdout;
    await ctx.driver.writeFile(null, paths.caCertificate, caPem, 0o644);
    done.push(caProblem === 'missing' ? 'CA created' : `CA replaced (was ${caProblem})`);
  }

  const siteKey = await ctx.secrets.get(SITE_KEY_SECRET, newPrivateKey);
  let sitePem = await ctx.driver.readFile(null, paths.siteCertificate);
  const names = siteNames(ctx.model);
  const issuer = parse(caPem);
  const siteProblem = certificateProblem(sitePem, {
    privateKey: siteKey,
    names,
    ...(issuer === undefined ? {} : { issuer }),
  });
  if (siteProblem !== undefined || caProblem !== undefined) {
    const issued = await ctx.driver.exec(
      null,
      openssl.signed(
        {
          key: ctx.secrets.pathOf(SITE_KEY_SECRET),
          subject: `/CN=${names[0] ?? ctx.model.domain}`,
          days: SITE_DAYS,
          extensions: [
            `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
            'basicConstraints=critical,CA:FALSE',
            'keyUsage=critical,digitalSignature',
            'extendedKeyUsage=serverAuth',
          ],
        },
        { cert: paths.caCertificate, key: ctx.secrets.pathOf(CA_KEY_SECRET) },
      ),
    );
    sitePem = issued.stdout;
    await ctx.driver.writeFile(null, paths.siteCertificate, sitePem, 0o644);
    done.push(`certificate for ${names.join(', ')} issued`);
  }
  return {
    bundle: `${sitePem ?? ''}${siteKey.trimEnd()}\n`,
    outcome: done.length === 0 ? 'up to date' : done.join(', '),
  };
}
