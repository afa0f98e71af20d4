/** One HTTP request of a load, reduced to what the user saw: a status and body, or an error code. */
import type http from 'node:http';
import type net from 'node:net';
import type { RequestFunction } from './options.ts';

export interface Outcome {
  readonly status?: number;
  readonly body?: string;
  /** X-Served-By: which web server answered. */
  readonly server?: string;
  /** Error code (ECONNRESET, ETIMEDOUT, EAI_AGAIN, ...) when no response arrived. */
  readonly error?: string;
  /**
   * Of an error on a kept-alive connection that had answered before: how long it had sat idle
   * since its last answer, in ms. A server closes an idle connection after its keep-alive timeout
   * (HAProxy's `timeout http-keep-alive`); a request sent as it does meets a reset.
   */
  readonly idleMs?: number;
  /**
   * Kept-alive connections the server had closed as this safe request was sent on them, each
   * followed by sending it again (MAX_STALE); absent when none.
   */
  readonly staleConnections?: number;
}

/** When each kept-alive connection last finished an answer. */
const lastAnswer = new WeakMap<net.Socket, number>();

export interface RequestSpec {
  readonly url: string;
  readonly method: string;
  readonly timeoutMs: number;
  /** Sent as JSON. */
  readonly json?: unknown;
  /** Keep the response body (only when the caller reads it). */
  readonly keepBody?: boolean;
}

/**
 * How many times a safe request (GET, HEAD) is sent again when a kept-alive connection that had
 * sat idle fails it before any answer: a server closes an idle connection after its keep-alive
 * timeout, and a request sent within the same few milliseconds meets a reset (reproduced on the
 * lab: a connection reused 9,984–9,999 ms after its last answer from HAProxy, whose `timeout
 * http-keep-alive` is 10 s, failed; from 10,000 ms Node.js had seen the close;
 * bench/results/by-hand-2026-12-07T09-keepalive-race.txt). Browsers and curl send it again on
 * another connection, as RFC 9110 (9.2.2) allows for idempotent methods; so do the visitors, one
 * stale connection after another (a load's free connections go idle together), never a write:
 * a POST fails as it would.
 */
const MAX_STALE = 16;

/**
 * Only a connection idle this long (ms) is taken for one its server closed for idleness. One cut
 * while busy (a load balancer killed under its requests) fails its requests as they were cut in
 * flight, which the fault tests count as such (src/drill/measure.ts).
 */
const STALE_AFTER_MS = 1000;

/** A connection the server closed or reset (Node's "socket hang up" is ECONNRESET too). */
const CLOSED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export async function sendRequest(
  client: { agent: http.Agent; request: RequestFunction },
  spec: RequestSpec,
): Promise<Outcome> {
  const safe = spec.method === 'GET' || spec.method === 'HEAD';
  let stale = 0;
  for (;;) {
    const outcome = await sendOnce(client, spec);
    // idleMs is there only for a connection that had answered before.
    const closed = CLOSED.has(outcome.error ?? '') && (outcome.idleMs ?? 0) >= STALE_AFTER_MS;
    if (!(safe && closed && stale < MAX_STALE))
      return stale === 0 ? outcome : { ...outcome, staleConnections: stale };
    stale++;
  }
}

/** One try. */
function sendOnce(
  client: { agent: http.Agent; request: RequestFunction },
  spec: RequestSpec,
): Promise<Outcome> {
  const payload = spec.json === undefined ? undefined : JSON.stringify(spec.json);
  const headers =
    payload === undefined
      ? {}
      : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
  const sent = Date.now();
  let socket: net.Socket | undefined;
  return new Promise((resolve) => {
    const request = client.request(
      spec.url,
      { agent: client.agent, method: spec.method, timeout: spec.timeoutMs, headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => {
          if (spec.keepBody === true) chunks.push(chunk);
        });
        response.on('end', () => {
          if (socket !== undefined) lastAnswer.set(socket, Date.now());
          const server = response.headers['x-served-by'];
          resolve({
            status: response.statusCode ?? 0,
            ...(spec.keepBody === true ? { body: Buffer.concat(chunks).toString('utf8') } : {}),
            ...(typeof server === 'string' ? { server } : {}),
          });
        });
        // Cut after its head came: not sent again (a browser would not either).
        response.on('error', (error: NodeJS.ErrnoException) => {
          resolve({ error: error.code ?? error.message });
        });
      },
    );
    request.on('timeout', () =>
      request.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
    );
    request.on('socket', (s) => (socket = s));
    request.on('error', (error: NodeJS.ErrnoException) => {
      const last =
        request.reusedSocket && socket !== undefined ? lastAnswer.get(socket) : undefined;
      resolve({
        error: error.code ?? error.message,
        ...(last === undefined ? {} : { idleMs: sent - last }),
      });
    });
    request.end(payload);
  });
}
