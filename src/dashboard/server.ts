/**
 * The dashboard's server, on the monitoring host. To the admin's address only, it serves the page
 * and passes the page's read-only queries to Prometheus (on the monitor's loopback, out of
 * anyone else's reach). On the loopback it takes Alertmanager's notifications and appends each to
 * the alert log. No dependencies beyond Node.js: it is bundled into one file.
 */
import { appendFile, open, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import {
  ALERT_WEBHOOK_PATH,
  HEALTH_PATH,
  NOTIFICATIONS_PATH,
  PROMETHEUS_API,
  STATIC_FILES,
  type Endpoint,
  type ServerConfig,
} from './config.ts';

const MAX_BODY_BYTES = 1024 * 1024;
/** The end of the alert log that /notifications reads: the latest notifications, not the history. */
const LOG_TAIL_BYTES = 64 * 1024;
const NOTIFICATIONS_SHOWN = 20;
const PROMETHEUS_TIMEOUT_MS = 10_000;

/** What a request gets: the server writes it out. */
interface Reply {
  readonly status: number;
  readonly type: string;
  readonly body: string | Buffer;
}

type Handler = (request: http.IncomingMessage) => Promise<Reply>;

const text = (status: number, body: string): Reply => ({
  status,
  type: 'text/plain; charset=utf-8',
  body: `${body}\n`,
});
const json = (status: number, value: unknown): Reply => ({
  status,
  type: 'application/json',
  body: JSON.stringify(value),
});

function send(response: http.ServerResponse, reply: Reply): void {
  response.writeHead(reply.status, {
    'content-type': reply.type,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  response.end(reply.body);
}

/** "::ffff:10.77.1.1" → "10.77.1.1" */
function peerAddress(request: http.IncomingMessage): string {
  return (request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

async function askPrometheus(config: ServerConfig, url: URL): Promise<Reply> {
  try {
    const answer = await fetch(`${config.prometheus}${url.pathname}${url.search}`, {
      signal: AbortSignal.timeout(PROMETHEUS_TIMEOUT_MS),
    });
    return {
      status: answer.status,
      type: answer.headers.get('content-type') ?? 'application/json',
      body: Buffer.from(await answer.arrayBuffer()),
    };
  } catch (error) {
    return json(502, {
      status: 'error',
      error: `Prometheus at ${config.prometheus} did not answer: ${(error as Error).message}`,
    });
  }
}

/** The last notifications of the alert log, oldest first. */
export async function recentNotifications(file: string, count: number): Promise<unknown[]> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - LOG_TAIL_BYTES);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const lines = buffer.toString('utf8').split('\n');
    // A tail that starts mid-line drops its first, partial line.
    if (start > 0) lines.shift();
    return lines
      .filter((line) => line.trim() !== '')
      .slice(-count)
      .map((line) => JSON.parse(line) as unknown);
  } finally {
    await handle.close();
  }
}

function readBody(request: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`body over ${MAX_BODY_BYTES} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    request.on('error', reject);
  });
}

function staticFile(pathname: string): { file: string; type: string } | undefined {
  return Object.entries(STATIC_FILES).find(([route]) => route === pathname)?.[1];
}

/** The admin's side: the page, its files, its settings, and read-only Prometheus queries. */
export function pageHandler(config: ServerConfig): Handler {
  return async (request) => {
    const url = new URL(request.url ?? '/', 'http://dashboard');
    if (url.pathname === HEALTH_PATH) return text(200, 'ok');
    const peer = peerAddress(request);
    if (!config.allow.includes(peer)) {
      return text(
        403,
        `the dashboard answers the admin address only (${config.allow.join(', ')}), not ${peer}`,
      );
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return text(405, 'the dashboard is read-only');
    }
    if ((PROMETHEUS_API as readonly string[]).includes(url.pathname)) {
      return askPrometheus(config, url);
    }
    if (url.pathname === '/config.json') return json(200, config.page);
    if (url.pathname === NOTIFICATIONS_PATH) {
      return json(200, await recentNotifications(config.alertLog, NOTIFICATIONS_SHOWN));
    }
    const file = staticFile(url.pathname);
    if (file === undefined) return text(404, 'not found');
    return {
      status: 200,
      type: file.type,
      body: await readFile(path.join(config.static, file.file)),
    };
  };
}

/** Alertmanager's side: each notification becomes one line of the alert log. */
export function webhookHandler(config: ServerConfig): Handler {
  return async (request) => {
    const url = new URL(request.url ?? '/', 'http://dashboard');
    if (url.pathname === HEALTH_PATH) return text(200, 'ok');
    if (url.pathname !== ALERT_WEBHOOK_PATH) return text(404, 'not found');
    if (request.method !== 'POST') return text(405, 'POST notifications here');
    let notification: unknown;
    try {
      notification = JSON.parse(await readBody(request));
    } catch (error) {
      return text(400, `not a notification: ${(error as Error).message}`);
    }
    if (typeof notification !== 'object' || notification === null) {
      return text(400, 'not a notification: expected a JSON object');
    }
    const line = JSON.stringify({ received: new Date().toISOString(), ...notification });
    await appendFile(config.alertLog, `${line}\n`);
    return text(200, 'logged');
  };
}

function serve(handler: Handler, endpoint: Endpoint): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    handler(request).then(
      (reply) => {
        send(response, reply);
      },
      (error: unknown) => {
        send(response, text(500, (error as Error).message));
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(endpoint.port, endpoint.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export interface RunningDashboard {
  /** The ports actually bound (tests ask for port 0). */
  readonly ports: { readonly page: number; readonly webhook: number };
  close(): Promise<void>;
}

export async function startDashboard(config: ServerConfig): Promise<RunningDashboard> {
  const page = await serve(pageHandler(config), config.listen);
  const webhook = await serve(webhookHandler(config), config.webhook).catch((error: unknown) => {
    page.close();
    throw error;
  });
  const portOf = (server: http.Server): number => {
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  };
  return {
    ports: { page: portOf(page), webhook: portOf(webhook) },
    close: async () => {
      for (const server of [page, webhook]) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  };
}
