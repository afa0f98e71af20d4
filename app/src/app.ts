/** The www.foobar.com application: routes, headers, metrics. No I/O at import time. */
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify';
import { DbUnavailable, type Store } from './db/store.ts';
import { gtidCookie, gtidFromCookies, parseLimit, validateMessageText } from './messages.ts';
import { createMetrics } from './metrics.ts';
import { homePage } from './pages.ts';

export interface AppOptions {
  readonly server: string;
  readonly release: string;
  readonly trustProxy: readonly string[];
  readonly keepAliveTimeoutMs: number;
  readonly store: Store;
  readonly logger?: FastifyBaseLogger;
}

export interface AppState {
  /** Set on SIGTERM: /readyz fails so load balancers stop sending before the app closes. */
  draining: boolean;
}

/** Request bodies are small JSON documents; anything larger is refused with 413. */
export const BODY_LIMIT_BYTES = 16 * 1024;

/**
 * What /readyz answers (200 when ready, 503 otherwise). Ready: not draining, and some database
 * server (primary or replica) answered lately. Whether the primary takes writes is reported beside
 * it and never decides readiness: a database outage is the whole cluster's, and taking every web
 * server out of the load balancers for it would turn pages and reads into errors too.
 */
export interface Readiness {
  readonly status: 'ready' | 'draining' | 'no database';
  readonly db: {
    readonly primary: string;
    readonly primaryReachable: boolean;
    readonly primaryDownForMs: number;
    readonly writable: boolean;
    readonly problem?: string;
  };
  /** Which database password new connections use (a fingerprint; see Store.credential). */
  readonly credential?: string;
}

function badRequest(message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode: 400 });
}

/** JSON bodies must be valid UTF-8: Node would otherwise replace bad bytes and store garbage. */
function parseJsonBody(body: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw badRequest('the body is not valid UTF-8');
  }
  if (text.trim() === '') throw badRequest('the body is empty');
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('the body is not valid JSON');
  }
}

function unavailable(reply: FastifyReply, error: DbUnavailable): FastifyReply {
  return reply
    .code(503)
    .header('retry-after', '1')
    .send({ error: 'the database is unavailable', detail: error.message });
}

export function buildApp(options: AppOptions): { app: FastifyInstance; state: AppState } {
  const state: AppState = { draining: false };
  const { store } = options;
  const app = Fastify({
    ...(options.logger === undefined ? {} : { loggerInstance: options.logger }),
    trustProxy: [...options.trustProxy],
    keepAliveTimeout: options.keepAliveTimeoutMs,
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Nginx and HAProxy log every request; the app logs what only it knows: errors.
    logController: new LogController({ disableRequestLogging: true }),
  });
  const metrics = createMetrics({ server: options.server, release: options.release }, () =>
    store.health(),
  );

  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof DbUnavailable) return unavailable(reply, error);
    throw error;
  });

  app.addHook('onRequest', (_request, reply, done) => {
    void reply.header('x-served-by', options.server);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500) {
      request.log.warn({ url: request.url, status: reply.statusCode }, 'server error');
    }
    done();
  });

  app.get('/', (_request, reply) => {
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(homePage({ server: options.server, release: options.release }));
  });

  app.get('/api/whoami', async (request) => ({
    server: options.server,
    release: options.release,
    client: request.ip,
    protocol: request.protocol,
    db: await store.whoami(),
  }));

  app.post('/api/messages', async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw badRequest('expected a JSON object: {"text": "..."}');
    const checked = validateMessageText((body as Record<string, unknown>).text);
    if ('error' in checked) throw badRequest(checked.error);
    const written = await store.insertMessage(checked.text);
    return reply
      .code(201)
      .header('cache-control', 'no-store')
      .header('location', `/api/messages/${written.message.id}`)
      .header('set-cookie', gtidCookie(written.gtid))
      .send({ ...written.message, db: written.server });
  });

  app.get('/api/messages', async (request, reply) => {
    const limit = parseLimit((request.query as Record<string, unknown>).limit);
    if (limit === undefined) throw badRequest('limit must be a whole number from 1 to 100');
    const read = await store.listMessages(limit, gtidFromCookies(request.headers.cookie));
    return reply
      .header('cache-control', 'no-store')
      .send({ messages: read.messages, db: read.server });
  });

  app.get('/healthz', () => ({ status: 'alive' }));

  app.get('/readyz', async (_request, reply) => {
    const { reachable, ...db } = await store.health();
    const status = state.draining ? 'draining' : reachable ? 'ready' : 'no database';
    const credential = store.credential();
    const readiness: Readiness = {
      status,
      db,
      ...(credential === undefined ? {} : { credential }),
    };
    return reply.code(status === 'ready' ? 200 : 503).send(readiness);
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  return { app, state };
}
