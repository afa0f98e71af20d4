/** What every bounded load from a lab host takes: a URL, a duration (capped), a concurrency. */
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

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
   * Name servers to resolve the URL's name through (each lookup asks them, the first one first),
   * instead of this host's resolver: the site's own, from a machine that does not use them.
   */
  readonly dns?: readonly string[];
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
    dns: { type: 'string' },
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
    readonly dns?: string | undefined;
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
    ...(values.dns === undefined ? {} : { dns: dnsServers(values.dns) }),
    ...(resolve === undefined ? {} : { resolve }),
  };
}

/** `--dns 10.0.0.1,10.0.0.2`: IPv4 addresses (`:PORT` when not 53), in the order to ask them. */
export function dnsServers(text: string): string[] {
  const servers = text.split(',').map((s) => s.trim());
  const bad = servers.filter((s) => {
    const [address = '', port, ...more] = s.split(':');
    return !net.isIPv4(address) || more.length > 0 || (port !== undefined && !/^\d+$/.test(port));
  });
  if (bad.length > 0)
    throw new Error(`--dns ${text}: IPv4 addresses (ADDRESS[:PORT]), separated by commas`);
  return servers;
}

/** How long a name server has to answer one query before the next is asked (then twice that). */
const DNS_TIMEOUT_MS = 1000;

/**
 * A `lookup` for connections that asks `servers` for A records on every call (no cache: each
 * new visitor looks the name up again), as a visitor whose resolver uses them would.
 */
export function lookupThrough(servers: readonly string[]): net.LookupFunction {
  const resolver = new dns.Resolver({ timeout: DNS_TIMEOUT_MS, tries: 2 });
  resolver.setServers([...servers]);
  return (hostname, options, callback) => {
    const answer = (addresses: readonly string[]): void => {
      if (options.all === true)
        callback(
          null,
          addresses.map((address) => ({ address, family: 4 })),
        );
      else callback(null, addresses[0] ?? '', 4);
    };
    if (net.isIPv4(hostname)) {
      answer([hostname]);
      return;
    }
    resolver.resolve4(hostname, (error, addresses) => {
      if (error !== null) callback(error, '', 4);
      else answer(addresses);
    });
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
  const lookup =
    bounds.resolve !== undefined
      ? { lookup: lookupOf(bounds.resolve) }
      : bounds.dns !== undefined
        ? { lookup: lookupThrough(bounds.dns) }
        : {};
  const options =
    bounds.fresh === true
      ? {
          keepAlive: false,
          maxSockets: bounds.concurrency,
          autoSelectFamily: true,
          autoSelectFamilyAttemptTimeout: bounds.timeoutMs,
          ...lookup,
        }
      : { keepAlive: true, maxSockets: bounds.concurrency, ...lookup };
  if (!bounds.url.startsWith('https:')) {
    return { agent: new http.Agent(options), request: (url, o, cb) => http.request(url, o, cb) };
  }
  const ca = bounds.cacert === undefined ? {} : { ca: readFileSync(bounds.cacert) };
  return {
    agent: new https.Agent({ ...options, ...ca }),
    request: (url, o, cb) => https.request(url, o, cb),
  };
}
