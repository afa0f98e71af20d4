/** The www.foobar.com application: routes, headers, metrics. No I/O at import time. */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createMetrics } from './metrics.ts';
import { homePage } from './pages.ts';

export interface AppOptions {
  readonly server: string;
  readonly release: string;
  readonly trustProxy: readonly string[];
  readonly keepAliveTimeoutMs: number;
  readonly logger?: FastifyBaseLogger;
}

export interface AppState {
  /** Set on SIGTERM: /readyz fails so load balancers stop sending before the app closes. */
  draining: boolean;
}

/** Request bodies are small JSON documents; anything larger is refused with 413. */
export const BODY_LIMIT_BYTES = 16 * 1024;

export function buildApp(options: AppOptions): { app: FastifyInstance; state: AppState } {
  const state: AppState = { draining: false };
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
  const metrics = createMetrics({ server: options.server, release: options.release });

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

  app.get('/api/whoami', (request) => ({
    server: options.server,
    release: options.release,
    client: request.ip,
    protocol: request.protocol,
  }));

  app.get('/healthz', () => ({ status: 'alive' }));

  app.get('/readyz', (_request, reply) => {
    if (state.draining) return reply.code(503).send({ status: 'draining' });
    return { status: 'ready' };
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  return { app, state };
}
