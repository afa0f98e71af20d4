/** PromQL over the app's and HAProxy's metrics, shared by the alert rules and the dashboard. */

/** 5xx responses over all responses, by `by`; 0 (not nothing) when no 5xx was ever counted. */
export function errorRatio(
  metric: string,
  selector: string,
  fiveXx: string,
  by: string,
  window: string,
): string {
  const all = `sum by (${by}) (rate(${metric}{${selector}}[${window}]))`;
  const errors = `sum by (${by}) (rate(${metric}{${[selector, fiveXx].filter((s) => s !== '').join(', ')}}[${window}]))`;
  return `(${errors} or ${all} * 0) / ${all}`;
}

/**
 * The app's requests from users: not the load balancers' health checks nor Prometheus' scrapes,
 * which would otherwise make an idle site look busy and dilute its error ratio.
 */
const USER_TRAFFIC = 'route!~"/readyz|/healthz|/metrics"';

/** The app's 5xx ratio per web server. */
export function appErrorRatio(window: string): string {
  return errorRatio('foobar_http_requests_total', USER_TRAFFIC, 'status=~"5.."', 'host', window);
}

/** The 5xx ratio users get through each load balancer. */
export function siteErrorRatio(window: string): string {
  return errorRatio(
    'haproxy_frontend_http_responses_total',
    'proxy="www"',
    'code="5xx"',
    'host',
    window,
  );
}

/** Requests per second the app answers users, per web server. */
export function appRequestRate(window: string): string {
  return `sum by (host) (rate(foobar_http_requests_total{${USER_TRAFFIC}}[${window}]))`;
}

/** Requests per second users send through each load balancer. */
export function siteRequestRate(window: string): string {
  return `sum by (host) (rate(haproxy_frontend_http_requests_total{proxy="www"}[${window}]))`;
}

/** A quantile (0.99 for p99) of the app's response time, per web server. */
export function appLatency(quantile: number, window: string): string {
  return `histogram_quantile(${quantile}, sum by (host, le) (rate(foobar_http_request_duration_seconds_bucket{${USER_TRAFFIC}}[${window}])))`;
}
