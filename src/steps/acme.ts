/**
 * The site's certificate from an ACME certificate authority (`tls.acme`: Let's Encrypt on real
 * servers, Pebble in the tests). foobar is the ACME client, on this machine: it orders the
 * certificate for the site's key, answers the CA's HTTP-01 challenges through every load
 * balancer's HAProxy (an in-memory map, no reload), and puts the new certificate on every load
 * balancer through HAProxy's runtime API (open connections keep theirs, none is dropped). `up`
 * renews it once less than a third of its lifetime is left.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { haproxy } from '../commands/haproxy.ts';
import { hostPaths, labPaths } from '../model/layout.ts';
import { addressOf, hostsWithRole, type AcmeSettings } from '../model/model.ts';
import { ACME_CHALLENGE_PATH, haproxyFiles } from '../render/haproxy/index.ts';
import type { Context } from './context.ts';
import { runningPid } from './daemon.ts';
import { haproxyDaemon } from './services.ts';
import { newPrivateKey, SITE_KEY_SECRET, siteNames } from './tls.ts';

export const ACME_ACCOUNT_KEY_SECRET = 'acme-account.key';
/** Let's Encrypt's advice: renew when a third of the certificate's lifetime is left. */
export const RENEW_WHEN_LEFT = 1 / 3;
/** How long the CA gets to validate and issue before foobar gives up (a bound, not a figure). */
const ORDER_TIMEOUT_MS = 120_000;

/** Kept beside the certificate (`<cert>.json`): which CA issued it. */
interface AcmeRecord {
  readonly directory: string;
}

export interface AcmeWanted {
  readonly directory: string;
  readonly names: readonly string[];
  /** The site's private key (PEM). */
  readonly privateKey: string;
  /** Renew this long before expiry; by default once a third of the lifetime is left. */
  readonly renewBeforeSeconds?: number;
}

/** Why the certificate must be ordered (again), or undefined when it is good as it is. */
export function acmeCertificateProblem(
  pem: string | undefined,
  record: string | undefined,
  wanted: AcmeWanted,
  now = Date.now(),
): string | undefined {
  if (pem === undefined) return 'missing';
  let cert: X509Certificate;
  let issuer: string;
  try {
    cert = new X509Certificate(pem);
    issuer = (JSON.parse(record ?? '') as AcmeRecord).directory;
  } catch {
    return 'unreadable';
  }
  if (issuer !== wanted.directory) return `from ${issuer}`;
  if (!cert.checkPrivateKey(createPrivateKey(wanted.privateKey))) return 'not for the current key';
  const names = (cert.subjectAltName ?? '')
    .split(', ')
    .map((entry) => entry.replace(/^DNS:/, ''))
    .sort();
  if (names.join(',') !== [...wanted.names].sort().join(','))
    return `for ${names.join(', ')}, not ${wanted.names.join(', ')}`;
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const expires = new Date(to).toISOString();
  const before = wanted.renewBeforeSeconds;
  if (before === undefined) {
    if (to - now < (to - from) * RENEW_WHEN_LEFT)
      return `less than a third of its lifetime left (expires ${expires})`;
  } else if (to - now < before * 1000) {
    return `expires within renewBeforeSeconds (${before} s): ${expires}`;
  }
  return undefined;
}

async function wanted(ctx: Context, settings: AcmeSettings): Promise<AcmeWanted> {
  return {
    directory: settings.directory,
    names: siteNames(ctx.model),
    privateKey: (await ctx.secrets.get(SITE_KEY_SECRET, newPrivateKey)).trimEnd(),
    ...(settings.renewBeforeSeconds === undefined
      ? {}
      : { renewBeforeSeconds: settings.renewBeforeSeconds }),
  };
}

/**
 * The certificate the CA issued, with the site's key (what HAProxy loads), while it is for the
 * configured CA, names and key, even when due for renewal; undefined otherwise. Until there is
 * one, the load balancers serve the lab CA's certificate.
 */
export async function issuedAcmeBundle(ctx: Context): Promise<string | undefined> {
  const settings = ctx.model.tls.acme;
  if (settings === undefined) return undefined;
  const file = labPaths(ctx.model).acmeCertificate;
  const pem = await ctx.driver.readFile(null, file);
  const want = await wanted(ctx, settings);
  const problem = acmeCertificateProblem(
    pem,
    await ctx.driver.readFile(null, `${file}.json`),
    want,
    // As if at the epoch: a certificate due for renewal still serves until its successor comes.
    0,
  );
  return problem === undefined && pem !== undefined
    ? `${pem.trimEnd()}\n${want.privateKey}\n`
    : undefined;
}

/**
 * Orders the site's certificate when it is missing, from another CA or for other names, or has
 * less than a third of its lifetime left, and puts it on every load balancer. With `offline`
 * (a dry run) nothing is ordered: it says what would be.
 */
export async function ensureAcmeCertificate(ctx: Context, offline = false): Promise<string> {
  const settings = ctx.model.tls.acme;
  if (settings === undefined) return 'not configured';
  const file = labPaths(ctx.model).acmeCertificate;
  const want = await wanted(ctx, settings);
  const problem = acmeCertificateProblem(
    await ctx.driver.readFile(null, file),
    await ctx.driver.readFile(null, `${file}.json`),
    want,
  );
  if (problem === undefined) {
    return `up to date, ${await installCertificate(ctx, await requireBundle(ctx))}`;
  }
  if (offline) return `would order from ${settings.directory} (${problem})`;
  const started = Date.now();
  const chain = await orderCertificate(ctx, settings, want);
  await ctx.driver.writeFile(null, file, chain, 0o644);
  const record: AcmeRecord = { directory: settings.directory };
  await ctx.driver.writeFile(null, `${file}.json`, `${JSON.stringify(record, null, 2)}\n`, 0o644);
  const expires = new X509Certificate(chain).validTo;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  return `issued in ${seconds} s (was ${problem}; expires ${new Date(expires).toISOString()}), ${await installCertificate(ctx, await requireBundle(ctx))}`;
}

async function requireBundle(ctx: Context): Promise<string> {
  const bundle = await issuedAcmeBundle(ctx);
  if (bundle === undefined)
    throw new Error(
      `${labPaths(ctx.model).acmeCertificate}: the certificate just written is not usable`,
    );
  return bundle;
}

/**
 * Every load balancer gets `bundle` (certificate chain and key): written where HAProxy loads it
 * at its next start, and swapped into the running HAProxy (a transaction on the runtime API:
 * new handshakes use it at once, open connections keep theirs, nothing reloads).
 */
export async function installCertificate(ctx: Context, bundle: string): Promise<string> {
  let swapped = 0;
  for (const lb of hostsWithRole(ctx.model, 'lb')) {
    const files = haproxyFiles(hostPaths(ctx.model, lb.name));
    if ((await ctx.driver.readFile(lb.name, files.certificate)) === bundle) continue;
    await ctx.driver.writeFile(lb.name, files.certificate, bundle, 0o600);
    if ((await runningPid(ctx, haproxyDaemon(ctx, lb))) === undefined) continue;
    const set = await ctx.driver.exec(
      lb.name,
      haproxy.setCertificate(files.socket, files.certificate, bundle),
    );
    const commit = await ctx.driver.exec(
      lb.name,
      haproxy.commitCertificate(files.socket, files.certificate),
    );
    if (!commit.stdout.includes('Success!')) {
      throw new Error(
        `${lb.name}: HAProxy refused the new certificate: ${`${set.stdout} ${commit.stdout}`.trim()}`,
      );
    }
    swapped++;
  }
  return swapped === 0 ? 'on every load balancer' : `swapped on ${swapped} load balancers`;
}

/** The ACME exchange itself (acme-client): account, order, HTTP-01 through HAProxy, finalize. */
async function orderCertificate(
  ctx: Context,
  settings: AcmeSettings,
  want: AcmeWanted,
): Promise<string> {
  // Loaded here: acme-client and its HTTP and crypto libraries cost every command ~0.2 s to load.
  const { default: acme } = await import('acme-client');
  if (settings.caBundle !== undefined) {
    const ca = await ctx.driver.readFile(null, settings.caBundle);
    if (ca === undefined) throw new Error(`tls.acme.caBundle: ${settings.caBundle} is missing`);
    // acme-client's one HTTP client; foobar talks to one CA per run.
    acme.axios.defaults.httpsAgent = new https.Agent({ ca });
  }
  const client = new acme.Client({
    directoryUrl: settings.directory,
    accountKey: await ctx.secrets.get(ACME_ACCOUNT_KEY_SECRET, newPrivateKey),
    // The CA's own advice (Retry-After) comes first; without it poll from 0.25 s up to 3 s.
    backoffMin: 250,
    backoffMax: 3000,
    backoffAttempts: 30,
  });
  const [, csr] = await acme.crypto.createCsr(
    { commonName: want.names[0] ?? ctx.model.domain, altNames: [...want.names] },
    want.privateKey,
  );
  const published = new Set<string>();
  const order = client.auto({
    csr,
    ...(settings.email === undefined ? {} : { email: settings.email }),
    termsOfServiceAgreed: true,
    challengePriority: ['http-01'],
    // acme-client's own check would ask this machine's resolver; foobar asks each load balancer.
    skipChallengeVerification: true,
    challengeCreateFn: async (authz, challenge, keyAuthorization) => {
      if (challenge.type !== 'http-01')
        throw new Error(`${authz.identifier.value}: the CA offers no HTTP-01 challenge`);
      await publishChallenge(ctx, challenge.token, keyAuthorization);
      published.add(challenge.token);
      await checkChallenge(ctx, authz.identifier.value, challenge.token, keyAuthorization);
    },
    challengeRemoveFn: async (_authz, challenge) => {
      await withdrawChallenge(ctx, challenge.token);
      published.delete(challenge.token);
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new Error(`no certificate from ${settings.directory} within ${ORDER_TIMEOUT_MS / 1000} s`),
      );
    }, ORDER_TIMEOUT_MS);
  });
  try {
    return await Promise.race([order, deadline]);
  } catch (error) {
    throw new Error(
      `ordering the certificate for ${want.names.join(', ')} from ${settings.directory} failed: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    for (const token of published) await withdrawChallenge(ctx, token);
  }
}

/** A token must look like base64url (RFC 8555 §8.3) before it goes into a runtime API line. */
const TOKEN = /^[A-Za-z0-9_-]+$/;
const KEY_AUTHORIZATION = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

async function publishChallenge(ctx: Context, token: string, answer: string): Promise<void> {
  if (!TOKEN.test(token) || !KEY_AUTHORIZATION.test(answer))
    throw new Error(
      `the CA sent a challenge token that is not base64url: ${JSON.stringify(token)}`,
    );
  for (const lb of hostsWithRole(ctx.model, 'lb')) {
    const files = haproxyFiles(hostPaths(ctx.model, lb.name));
    const result = await ctx.driver.exec(
      lb.name,
      haproxy.addMapEntry(files.socket, files.challenges, token, answer),
    );
    if (result.stdout.trim() !== '')
      throw new Error(`${lb.name}: add map ${files.challenges}: ${result.stdout.trim()}`);
  }
}

async function withdrawChallenge(ctx: Context, token: string): Promise<void> {
  for (const lb of hostsWithRole(ctx.model, 'lb')) {
    const files = haproxyFiles(hostPaths(ctx.model, lb.name));
    await ctx.driver.exec(lb.name, haproxy.deleteMapEntry(files.socket, files.challenges, token), {
      check: false,
    });
  }
}

/**
 * Before telling the CA to validate: every load balancer answers the challenge on its own edge
 * address, as the CA will (it may reach either one: DNS names both virtual addresses).
 */
async function checkChallenge(
  ctx: Context,
  name: string,
  token: string,
  answer: string,
): Promise<void> {
  for (const lb of hostsWithRole(ctx.model, 'lb')) {
    const address = addressOf(lb, 'edge');
    const got = await httpGet(
      address,
      ctx.model.ports.http,
      name,
      `${ACME_CHALLENGE_PATH}${token}`,
    );
    if (got !== answer) {
      throw new Error(
        `${lb.name}: http://${name}${ACME_CHALLENGE_PATH}${token} at ${address} answered ${JSON.stringify(got.slice(0, 80))}, not the challenge's answer`,
      );
    }
  }
}

/** A plain HTTP GET to `address` for `host`'s `path`: the body of a 200, else the status line. */
function httpGet(address: string, port: number, host: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: address, port, path, headers: { host }, timeout: 5000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve(response.statusCode === 200 ? body : `HTTP ${response.statusCode ?? '?'}`);
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within 5 s from ${address}`)));
    request.on('error', reject);
  });
}
