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

export function sendRequest(
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
