/**
 * What the dashboard shows and how its server runs, rendered from the model into one JSON file
 * (src/render/dashboard). Shared by the server, the page's code and the renderer: types only.
 */

/** Rows of the topology, front to back. */
export const TIERS = ['internet', 'edge', 'web', 'database', 'monitoring'] as const;
export type Tier = (typeof TIERS)[number];

export interface PageHost {
  readonly name: string;
  readonly roles: readonly string[];
  readonly addresses: Readonly<Record<string, string>>;
  readonly tier: Tier;
  /** The services foobar runs there, each with a check below; empty for an unmonitored host. */
  readonly services: readonly string[];
  /** False for the client: it stands for the internet, nobody watches it. */
  readonly monitored: boolean;
}

/** A PromQL expression giving 1 per healthy host (label `host`) for one service. */
export interface ServiceCheck {
  readonly service: string;
  /** Null for the dashboard itself: it is up when this page gets answers. */
  readonly expr: string | null;
}

export interface ChartQuery {
  readonly expr: string;
  /** The series' name: `{{host}}` is replaced with the series' host label. */
  readonly legend: string;
}

export type Unit = 'perSecond' | 'ratio' | 'seconds';

export interface Chart {
  readonly id: string;
  readonly title: string;
  readonly unit: Unit;
  readonly queries: readonly ChartQuery[];
  /** The alerting threshold, drawn as a dashed line. */
  readonly threshold?: number;
  /** Shown while the chart has no data (e.g. a tier the lab does not run yet). */
  readonly empty: string;
}

export interface PageConfig {
  readonly title: string;
  readonly lab: string;
  readonly refreshSeconds: number;
  /** The charts show this many seconds up to now, one point per step. */
  readonly rangeSeconds: number;
  readonly stepSeconds: number;
  readonly hosts: readonly PageHost[];
  readonly checks: readonly ServiceCheck[];
  readonly charts: readonly Chart[];
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface ServerConfig {
  /** Where the admin's browser connects. */
  readonly listen: Endpoint;
  /** Where Alertmanager delivers notifications: the monitor's loopback. */
  readonly webhook: Endpoint;
  /** The only peer addresses the dashboard answers (the admin's). */
  readonly allow: readonly string[];
  /** Prometheus' base URL, on the monitor's loopback. */
  readonly prometheus: string;
  /** Notifications are appended here, one JSON line each. */
  readonly alertLog: string;
  /** The page, its script and its stylesheet. */
  readonly static: string;
  /** The build the static files and this server come from (a new one restarts the server). */
  readonly build: string;
  readonly page: PageConfig;
}

/** The page's script and stylesheet, as the build writes them into the static directory. */
export const STATIC_FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
} as const;

/** Read-only Prometheus API endpoints the page may call through the dashboard. */
export const PROMETHEUS_API = [
  '/api/v1/query',
  '/api/v1/query_range',
  '/api/v1/alerts',
  '/api/v1/targets',
] as const;

/** The notifications Alertmanager delivered, newest last, as the page reads them. */
export const NOTIFICATIONS_PATH = '/notifications';
export const HEALTH_PATH = '/healthz';
/** Where Alertmanager delivers notifications, on the monitor's loopback. */
export const ALERT_WEBHOOK_PATH = '/webhook/alertmanager';
