/** One HTTP request of a load, reduced to what the user saw: a status and body, or an error code. */
import type http from 'node:http';
import type { RequestFunction } from './options.ts';

export interface Outcome {
  readonly status?: number;
  readonly body?: string;
  /** X-Served-By: which web server answered. */
  readonly server?: string;
  /** Error code (ECONNRESET, ETIMEDOUT, EAI_AGAIN, ...) when no response arrived. */
  readonly error?: string;
}

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
    request.on('error', (error: NodeJS.ErrnoException) => {
      resolve({ error: error.code ?? error.message });
    });
    request.end(payload);
  });
}
