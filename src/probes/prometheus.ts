/** What Prometheus on the monitoring host knows: its targets and its alerts, from its HTTP API. */
import { monitorHost } from '../model/monitoring.ts';
import type { Context } from '../steps/context.ts';
import { httpRequest } from './http.ts';

export interface Target {
  readonly job: string;
  readonly host: string;
  readonly up: boolean;
  /** Why the last scrape failed ("" when it did not). */
  readonly lastError: string;
  readonly url: string;
  /** When Prometheus last scraped it (ms since the epoch; NaN if never). */
  readonly lastScrape: number;
}

export interface Alert {
  readonly name: string;
  readonly state: 'firing' | 'pending';
  readonly severity: string;
  readonly host?: string;
  readonly summary: string;
  /** When its condition started to hold (RFC 3339). */
  readonly since: string;
  readonly labels: Readonly<Record<string, string>>;
}

interface ApiTarget {
  readonly labels: Record<string, string>;
  readonly scrapeUrl: string;
  readonly lastError: string;
  readonly health: string;
  readonly lastScrape: string;
  /** Seconds. */
  readonly lastScrapeDuration: number;
}

interface ApiRuleGroup {
  readonly rules: unknown[];
  readonly lastEvaluation: string;
}

interface ApiAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: string;
  readonly activeAt: string;
}

/** GET a Prometheus API path from inside the monitoring host; its `data`, or an error. */
async function api<T>(ctx: Context, pathAndQuery: string): Promise<T | { error: string }> {
  const mon = monitorHost(ctx.model);
  if (mon === undefined) return { error: 'the model has no host with the mon role' };
  const url = `http://127.0.0.1:${ctx.model.ports.prometheus}${pathAndQuery}`;
  const result = await httpRequest(ctx.driver, mon.name, url, { timeoutSeconds: 5 });
  if ('error' in result) return { error: `Prometheus on ${mon.name}: ${result.error}` };
  try {
    const body = JSON.parse(result.body) as { status: string; data: T; error?: string };
    if (body.status !== 'success') return { error: `Prometheus: ${body.error ?? result.status}` };
    return body.data;
  } catch {
    return { error: `Prometheus answered ${result.status} with no JSON` };
  }
}

async function activeTargets(ctx: Context): Promise<ApiTarget[] | { error: string }> {
  const data = await api<{ activeTargets: ApiTarget[] }>(ctx, '/api/v1/targets?state=active');
  return 'error' in data ? data : data.activeTargets;
}

async function alertRuleGroups(ctx: Context): Promise<ApiRuleGroup[] | { error: string }> {
  const data = await api<{ groups: ApiRuleGroup[] }>(ctx, '/api/v1/rules?type=alert');
  return 'error' in data ? data : data.groups;
}

export async function prometheusTargets(ctx: Context): Promise<Target[] | { error: string }> {
  const targets = await activeTargets(ctx);
  if ('error' in targets) return targets;
  return targets
    .map((t) => ({
      job: t.labels.job ?? '',
      host: t.labels.host ?? '',
      up: t.health === 'up',
      lastError: t.lastError,
      url: t.scrapeUrl,
      lastScrape: Date.parse(t.lastScrape),
    }))
    .sort((a, b) => `${a.job} ${a.host}`.localeCompare(`${b.job} ${b.host}`));
}

/** Alerts that fire now or are about to (pending), as Prometheus evaluates its rules. */
export async function prometheusAlerts(ctx: Context): Promise<Alert[] | { error: string }> {
  const data = await api<{ alerts: ApiAlert[] }>(ctx, '/api/v1/alerts');
  if ('error' in data) return data;
  return data.alerts
    .filter((a) => a.state === 'firing' || a.state === 'pending')
    .map((a) => ({
      name: a.labels.alertname ?? '',
      state: a.state as Alert['state'],
      severity: a.labels.severity ?? '',
      ...(a.labels.host === undefined ? {} : { host: a.labels.host }),
      summary: a.annotations.summary ?? '',
      since: a.activeAt,
      labels: a.labels,
    }));
}

/** One instant PromQL query: each series' labels and value. */
export async function prometheusQuery(
  ctx: Context,
  query: string,
): Promise<{ labels: Record<string, string>; value: number }[] | { error: string }> {
  const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
    ctx,
    `/api/v1/query?query=${encodeURIComponent(query)}`,
  );
  if ('error' in data) return data;
  return data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
}

/**
 * When Prometheus last scraped each target that answers: its URL → the end of that scrape, in ms
 * on Prometheus' clock (on machines, not necessarily this one's).
 */
export async function prometheusLastScrapes(
  ctx: Context,
): Promise<Map<string, number> | { error: string }> {
  const targets = await activeTargets(ctx);
  if ('error' in targets) return targets;
  return new Map(
    targets
      .filter((t) => t.health === 'up')
      .map((t) => [t.scrapeUrl, Date.parse(t.lastScrape) + t.lastScrapeDuration * 1000]),
  );
}

/** The oldest of the alert rule groups' last evaluations, in ms on Prometheus' clock. */
export async function prometheusLastEvaluation(ctx: Context): Promise<number | { error: string }> {
  const groups = await alertRuleGroups(ctx);
  if ('error' in groups) return groups;
  return Math.min(...groups.map((g) => Date.parse(g.lastEvaluation)));
}

/** How many alerting rules Prometheus evaluates now (0 before its config names the rule file). */
export async function prometheusAlertRules(ctx: Context): Promise<number | { error: string }> {
  const groups = await alertRuleGroups(ctx);
  if ('error' in groups) return groups;
  return groups.reduce((sum, group) => sum + group.rules.length, 0);
}
