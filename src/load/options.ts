/** What every bounded load from a lab host takes: a URL, a duration (capped), a concurrency. */
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';

export interface LoadBounds {
  readonly url: string;
  readonly seconds: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  /** For https URLs: the CA to trust (the lab's). */
  readonly cacert?: string;
  /**
   * A new connection (and a new name lookup) for every request, as new visitors make: a dead
   * address among the A records costs what it costs a browser or curl. Default: keep-alive.
   */
  readonly fresh?: boolean;
  /**
   * The name's addresses, instead of asking the resolver (as curl's --resolve): for a load from
   * a place whose resolver does not know the site (this machine, in front of test machines).
   */
  readonly resolve?: { readonly name: string; readonly addresses: readonly string[] };
}

/** parseArgs options shared by the loads; each adds its own. */
export function loadArgOptions(defaults: { concurrency: string; timeoutMs: string }) {
  return {
    url: { type: 'string' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: defaults.concurrency },
    'timeout-ms': { type: 'string', default: defaults.timeoutMs },
    cacert: { type: 'string' },
    fresh: { type: 'boolean', default: false },
    resolve: { type: 'string' },
  } as const;
}

export function loadBounds(
  values: {
    readonly url?: string | undefined;
    readonly seconds: string;
    readonly concurrency: string;
    readonly 'timeout-ms': string;
    readonly cacert?: string | undefined;
    readonly fresh?: boolean | undefined;
    readonly resolve?: string | undefined;
  },
  maxConcurrency: number,
): LoadBounds {
  if (values.url === undefined) throw new Error('--url is required');
  const resolve = parseResolve(values.resolve);
  const seconds = Number(values.seconds);
  // Every load is bounded in time: at most ten minutes.
  if (!(seconds > 0 && seconds <= 600)) throw new Error('--seconds must be between 0 and 600');
  return {
    url: values.url,
    seconds,
    concurrency: Math.max(1, Math.min(maxConcurrency, Number(values.concurrency))),
    timeoutMs: Number(values['timeout-ms']),
    ...(values.cacert === undefined ? {} : { cacert: values.cacert }),
    ...(values.fresh === true ? { fresh: true } : {}),
    ...(resolve === undefined ? {} : { resolve }),
  };
}

/** `--resolve NAME:ADDRESS[,ADDRESS...]`. */
function parseResolve(value: string | undefined): LoadBounds['resolve'] {
  if (value === undefined) return undefined;
  const [name = '', list = ''] = value.split(':');
  const addresses = list.split(',').filter((a) => a !== '');
  if (name === '' || addresses.length === 0)
    throw new Error(`--resolve ${value}: expected NAME:ADDRESS[,ADDRESS...]`);
  return { name, addresses };
}

/** A lookup that answers `resolve`'s name with its addresses, in turn; other names as usual. */
function lookupOf(resolve: NonNullable<LoadBounds['resolve']>): net.LookupFunction {
  let turn = 0;
  return (hostname, options, callback) => {
    if (hostname !== resolve.name) {
      dns.lookup(hostname, options, callback);
      return;
    }
    // Rotated as a DNS server rotates its answer, so each address gets its share.
    const n = turn++ % resolve.addresses.length;
    const ordered = [...resolve.addresses.slice(n), ...resolve.addresses.slice(0, n)];
    if (options.all === true)
      callback(
        null,
        ordered.map((address) => ({ address, family: 4 })),
      );
    else callback(null, ordered[0] ?? '', 4);
  };
}

export type RequestFunction = (
  url: string,
  options: http.RequestOptions,
  callback: (response: http.IncomingMessage) => void,
) => http.ClientRequest;

/**
 * Keep-alive connections for the load's URL, like a browser's (or one per request with
 * `fresh`): HTTPS trusting `cacert` when the URL is https (the site), plain HTTP otherwise.
 */
export function loadClient(bounds: LoadBounds): { agent: http.Agent; request: RequestFunction } {
  // Fresh visitors connect like curl or a browser: to the addresses of the answer in turn, the
  // next one as soon as a connection is refused, but only after the whole request timeout when
  // an address stays silent (Node's default moves on after 250 ms, which would hide a dead
  // address that curl and browsers wait for).
  const lookup = bounds.resolve === undefined ? {} : { lookup: lookupOf(bounds.resolve) };
  const options =
    bounds.fresh === true
      ? {
          ...lookup,
          keepAlive: false,
          maxSockets: bounds.concurrency,
          autoSelectFamily: true,
          autoSelectFamilyAttemptTimeout: bounds.timeoutMs,
        }
      : { ...lookup, keepAlive: true, maxSockets: bounds.concurrency };

  if (!bounds.url.startsWith('https:')) {
    return { agent: new http.Agent(options), request: (url, o, cb) => http.request(url, o, cb) };
  }
  const ca = bounds.cacert === undefined ? {} : { ca: readFileSync(bounds.cacert) };
  return {
    agent: new https.Agent({ ...options, ...ca }),
    request: (url, o, cb) => https.request(url, o, cb),
  };
}
