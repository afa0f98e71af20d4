/** What every bounded load from a lab host takes: a URL, a duration (capped), a concurrency. */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

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
  },
  maxConcurrency: number,
): LoadBounds {
  if (values.url === undefined) throw new Error('--url is required');
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
  };
}

export type RequestFunction = (
  url: string,
  options: http.RequestOptions,
  callback: (response: http.IncomingMessage) => void,
) => http.ClientRequest;

/**
 * Keep-alive connections for the load's URL, like a browser's (or one per request with `fresh`): HTTPS trusting `cacert` when the URL
 * is https (the site), plain HTTP otherwise.
 */
export function loadClient(bounds: LoadBounds): { agent: http.Agent; request: RequestFunction } {
  // Fresh visitors connect like curl or a browser: to the first address of the answer, without
  // Node's own happy-eyeballs race across every A record (which would hide a dead address).
  const options =
    bounds.fresh === true
      ? { keepAlive: false, maxSockets: bounds.concurrency, autoSelectFamily: false }
      : { keepAlive: true, maxSockets: bounds.concurrency };
  if (!bounds.url.startsWith('https:')) {
    return { agent: new http.Agent(options), request: (url, o, cb) => http.request(url, o, cb) };
  }
  const ca = bounds.cacert === undefined ? {} : { ca: readFileSync(bounds.cacert) };
  return {
    agent: new https.Agent({ ...options, ...ca }),
    request: (url, o, cb) => https.request(url, o, cb),
  };
}

/** What one request got: a status, the body and X-Served-By, or the error code of the socket. */
export interface Answer {
  readonly status?: number;
  readonly body?: string;
  readonly server?: string;
  readonly error?: string;
}

/** One request on the load's client, its whole answer read: a GET, or a POST of JSON `payload`. */
export function exchange(
  client: { agent: http.Agent; request: RequestFunction },
  url: string,
  timeoutMs: number,
  payload?: string,
): Promise<Answer> {
  return new Promise((resolve) => {
    const headers =
      payload === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    const request = client.request(
      url,
      {
        agent: client.agent,
        method: payload === undefined ? 'GET' : 'POST',
        timeout: timeoutMs,
        headers,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const server = response.headers['x-served-by'];
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ...(typeof server === 'string' ? { server } : {}),
          });
        });
        response.on('error', (error: NodeJS.ErrnoException) => {
          resolve({ error: error.code ?? error.message });
        });
      },
    );
    request.on('timeout', () =>
      request.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      resolve({ error: error.code ?? error.message });
    });
    request.end(payload);
  });
}
