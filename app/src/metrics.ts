/** Prometheus metrics of the app, on /metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DbHealth } from './db/health.ts';

export interface AppMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;
}

/**
 * The database as this web server sees it, read at each scrape (from the store's cached health):
 * the failover manager and the alerts read these beside /readyz.
 */
function dbGauges(registry: Registry, dbHealth: () => Promise<DbHealth>): void {
  const gauges: [string, string, (h: DbHealth) => boolean][] = [
    [
      'foobar_db_primary_reachable',
      'Whether this web server reached the primary database server in the last 2 s (1) or not (0)',
      (h) => h.primaryReachable,
    ],
    [
      'foobar_db_writable',
      'Whether the primary takes writes, as this web server last saw it (1) or not (0)',
      (h) => h.writable,
    ],
    [
      'foobar_db_reachable',
      'Whether this web server reached some database server in the last 2 s (1: it is ready)',
      (h) => h.reachable,
    ],
  ];
  for (const [name, help, read] of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(read(await dbHealth()) ? 1 : 0);
      },
    });
  }
}

export function createMetrics(
  labels: { server: string; release: string },
  dbHealth: () => Promise<DbHealth>,
): AppMetrics {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  dbGauges(registry, dbHealth);
  return {
    registry,
    requests: new Counter({
      name: 'foobar_http_requests_total',
      help: 'HTTP requests answered, by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'foobar_http_request_duration_seconds',
      help: 'Time to answer an HTTP request',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}
