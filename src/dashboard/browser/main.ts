/**
 * The dashboard page: the topology coloured by what Prometheus sees, the alerts, and charts
 * (uPlot) of the last minutes, refreshed every scrape interval. Every number comes from
 * Prometheus' HTTP API, through the dashboard's server.
 */
import uPlot from 'uplot';
import {
  NOTIFICATIONS_PATH,
  TIERS,
  type Chart,
  type PageConfig,
  type PageHost,
  type Unit,
} from '../config.ts';

type State = 'green' | 'amber' | 'red' | 'grey';
const RANK: Record<State, number> = { grey: 0, green: 1, amber: 2, red: 3 };
const worst = (states: readonly State[]): State =>
  states.reduce<State>((a, b) => (RANK[b] > RANK[a] ? b : a), 'green');

type Labels = Record<string, string | undefined>;
interface InstantSample {
  readonly metric: Labels;
  readonly value: [number, string];
}
interface RangeSeries {
  readonly metric: Labels;
  readonly values: [number, string][];
}
interface PromAlert {
  readonly labels: Labels;
  readonly annotations: Labels;
  readonly state: 'firing' | 'pending' | 'inactive';
  readonly activeAt?: string;
}
interface Notification {
  readonly received: string;
  readonly status: string;
  readonly alerts?: readonly { labels: Labels; status: string }[];
}

const PALETTE = ['#2f7ed8', '#e4572e', '#29a36a', '#9b59b6', '#f3a712', '#17becf', '#8c564b'];

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function byId(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { cache: 'no-store' });
  if (
    !response.ok &&
    response.status !== 400 &&
    response.status !== 422 &&
    response.status !== 502
  ) {
    throw new Error(`${url}: ${response.status}`);
  }
  return (await response.json()) as T;
}

/** A Prometheus API call; its `data`, or an error with Prometheus' own message. */
async function prometheus<T>(endpoint: string, params: Record<string, string> = {}): Promise<T> {
  const query = new URLSearchParams(params).toString();
  const body = await getJson<{ status: string; data: T; error?: string }>(
    `${endpoint}${query === '' ? '' : `?${query}`}`,
  );
  if (body.status !== 'success') throw new Error(body.error ?? `${endpoint} failed`);
  return body.data;
}

function format(unit: Unit, value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  if (unit === 'perSecond') return `${value.toFixed(value < 10 ? 1 : 0)}/s`;
  if (unit === 'ratio') return `${(value * 100).toFixed(1)}%`;
  return value < 1 ? `${(value * 1000).toFixed(value < 0.01 ? 1 : 0)} ms` : `${value.toFixed(2)} s`;
}

/** One host box of the topology. */
class HostView {
  readonly root: HTMLElement;
  readonly #services = new Map<string, HTMLElement>();
  readonly #note: HTMLElement;
  readonly host: PageHost;

  constructor(host: PageHost) {
    this.host = host;
    this.root = element('div', { class: 'host', 'data-host': host.name, 'data-state': 'grey' });
    this.root.append(element('div', { class: 'host-name' }, host.name));
    const addresses = Object.entries(host.addresses)
      .map(([network, address]) => `${network} ${address}`)
      .join(' · ');
    this.root.append(element('div', { class: 'host-addresses' }, addresses));
    const list = element('ul', { class: 'services' });
    for (const service of host.services) {
      const item = element('li', { 'data-service': service, 'data-state': 'grey' }, service);
      this.#services.set(service, item);
      list.append(item);
    }
    if (!host.monitored) list.append(element('li', {}, 'not monitored: the internet'));
    this.root.append(list);
    this.#note = element('div', { class: 'host-alerts' });
    this.root.append(this.#note);
  }

  update(services: ReadonlyMap<string, State>, alerts: readonly PromAlert[]): void {
    if (!this.host.monitored) return;
    const states: State[] = [];
    for (const [service, item] of this.#services) {
      const state = services.get(service) ?? 'amber';
      item.dataset.state = state;
      item.title = state === 'green' ? 'up' : state === 'red' ? 'down' : 'no data';
      states.push(state);
    }
    // Pending alerts are listed, not coloured: some wait an hour before they fire.
    for (const alert of alerts.filter((a) => a.state === 'firing')) {
      states.push(alert.labels.severity === 'critical' ? 'red' : 'amber');
    }
    this.root.dataset.state = worst(states);
    this.#note.textContent = alerts
      .map((a) => `${a.labels.alertname ?? '?'}${a.state === 'pending' ? ' (pending)' : ''}`)
      .join(', ');
  }
}

/** One chart: its series are recreated when their names change, else only their data. */
class ChartView {
  readonly root: HTMLElement;
  readonly #plotArea: HTMLElement;
  readonly #empty: HTMLElement;
  #plot: uPlot | undefined;
  #key = '';
  readonly chart: Chart;

  constructor(chart: Chart) {
    this.chart = chart;
    this.root = element('div', { class: 'chart', 'data-chart': chart.id, 'data-points': '0' });
    this.root.append(element('h3', {}, chart.title));
    this.#empty = element('p', { class: 'empty' }, chart.empty);
    this.#plotArea = element('div', { class: 'plot' });
    this.root.append(this.#empty, this.#plotArea);
  }

  #options(labels: readonly string[]): uPlot.Options {
    const { unit, threshold } = this.chart;
    const thresholdLine = (u: uPlot): void => {
      if (threshold === undefined) return;
      const y = u.valToPos(threshold, 'y', true);
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = '#d64541';
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.restore();
    };
    return {
      width: Math.max(300, this.root.clientWidth),
      height: 200,
      series: [
        {},
        ...labels.map((label, i) => ({
          label,
          stroke: PALETTE[i % PALETTE.length] ?? '#000',
          width: 1.5,
          value: (_u: uPlot, v: number | null) => format(unit, v),
        })),
      ],
      axes: [
        {
          values: (_u: uPlot, splits: number[]) =>
            splits.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false })),
        },
        { size: 60, values: (_u: uPlot, values: number[]) => values.map((v) => format(unit, v)) },
      ],
      scales: {
        y: {
          range: (_u: uPlot, _min: number, max: number): [number, number] => [
            0,
            Math.max(max, (threshold ?? 0) * 1.25, unit === 'perSecond' ? 1 : 0.001),
          ],
        },
      },
      hooks: { draw: [thresholdLine] },
    };
  }

  update(xs: number[], series: readonly { label: string; values: (number | null)[] }[]): void {
    const points = series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0);
    this.root.dataset.points = String(points);
    this.root.dataset.series = String(series.length);
    this.#empty.hidden = points > 0;
    const data: uPlot.AlignedData = [xs, ...series.map((s) => s.values)];
    const key = series.map((s) => s.label).join('\n');
    if (this.#plot === undefined || key !== this.#key) {
      this.#plot?.destroy();
      this.#plot = new uPlot(this.#options(series.map((s) => s.label)), data, this.#plotArea);
      this.#key = key;
    } else {
      this.#plot.setData(data);
    }
  }

  resize(): void {
    this.#plot?.setSize({ width: Math.max(300, this.root.clientWidth), height: 200 });
  }
}

function legendOf(template: string, metric: Labels): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => metric[name] ?? '');
}

async function chartData(
  config: PageConfig,
  chart: Chart,
): Promise<{ xs: number[]; series: { label: string; values: (number | null)[] }[] }> {
  const step = config.stepSeconds;
  const end = Math.floor(Date.now() / 1000 / step) * step;
  const start = end - config.rangeSeconds;
  const xs: number[] = [];
  for (let t = start; t <= end; t += step) xs.push(t);
  const results = await Promise.all(
    chart.queries.map(async (query) => {
      const matrix = await prometheus<{ result: RangeSeries[] }>('/api/v1/query_range', {
        query: query.expr,
        start: String(start),
        end: String(end),
        step: String(step),
      });
      return matrix.result.map((series) => {
        const values: (number | null)[] = xs.map(() => null);
        for (const [t, v] of series.values) {
          const value = Number(v);
          const index = Math.round((t - start) / step);
          if (index >= 0 && index < xs.length && Number.isFinite(value)) values[index] = value;
        }
        return { label: legendOf(query.legend, series.metric), values };
      });
    }),
  );
  const series = results.flat().sort((a, b) => a.label.localeCompare(b.label));
  // A young lab has data at the right end only: leave out the empty start, down to a minute.
  const first = Math.min(
    ...series.map((s) => s.values.findIndex((v) => v !== null)).filter((i) => i >= 0),
  );
  const from = Math.max(0, Math.min(first, xs.length - Math.ceil(60 / step)));
  return {
    xs: xs.slice(from),
    series: series.map((s) => ({ label: s.label, values: s.values.slice(from) })),
  };
}

function renderAlerts(alerts: readonly PromAlert[]): void {
  const body = byId('alerts').querySelector('tbody');
  if (body === null) return;
  body.replaceChildren(
    ...alerts.map((alert) => {
      const severity = alert.labels.severity ?? '';
      const row = element('tr', {
        'data-alert': alert.labels.alertname ?? '',
        'data-host': alert.labels.host ?? '',
        'data-state': alert.state,
      });
      const since =
        alert.activeAt === undefined ? '' : new Date(alert.activeAt).toLocaleTimeString();
      row.append(
        element('td', {}, alert.state),
        element('td', { class: `severity-${severity}` }, severity),
        element('td', {}, alert.labels.alertname ?? ''),
        element('td', {}, alert.labels.host ?? '–'),
        element('td', {}, since),
        element('td', {}, alert.annotations.summary ?? ''),
      );
      return row;
    }),
  );
  byId('no-alerts').hidden = alerts.length > 0;
}

function renderNotifications(notifications: readonly Notification[]): void {
  byId('notifications').replaceChildren(
    ...[...notifications].reverse().map((n) => {
      const names = (n.alerts ?? [])
        .map((a) => `${a.labels.alertname ?? '?'} ${a.labels.host ?? ''}`.trim())
        .join(', ');
      return element(
        'li',
        { 'data-status': n.status },
        `${new Date(n.received).toLocaleTimeString()} ${n.status}: ${names}`,
      );
    }),
  );
}

async function main(): Promise<void> {
  const config = await getJson<PageConfig>('/config.json');
  document.title = `${config.title} monitoring (lab ${config.lab})`;
  byId('title').textContent = `${config.title} · lab ${config.lab}`;

  const hosts = config.hosts.map((host) => new HostView(host));
  const tiers = byId('tiers');
  for (const tier of TIERS) {
    const members = hosts.filter((view) => view.host.tier === tier);
    if (members.length === 0) continue;
    const row = element('div', { class: 'tier', 'data-tier': tier });
    row.append(element('div', { class: 'tier-name' }, tier), ...members.map((view) => view.root));
    tiers.append(row);
  }
  const charts = config.charts.map((chart) => new ChartView(chart));
  byId('charts').append(...charts.map((view) => view.root));
  window.addEventListener('resize', () => {
    for (const view of charts) view.resize();
  });

  const summary = byId('summary');
  const refresh = async (): Promise<void> => {
    try {
      const [up, alerts, ...checks] = await Promise.all([
        prometheus<{ result: InstantSample[] }>('/api/v1/query', { query: 'up' }),
        prometheus<{ alerts: PromAlert[] }>('/api/v1/alerts'),
        ...config.checks.map(async (check) => ({
          check,
          samples:
            check.expr === null
              ? null
              : (
                  await prometheus<{ result: InstantSample[] }>('/api/v1/query', {
                    query: check.expr,
                  })
                ).result,
        })),
      ]);
      const states = new Map<string, Map<string, State>>();
      for (const { check, samples } of checks) {
        if (samples === null) {
          // The dashboard itself: up, since it answers.
          for (const host of config.hosts) {
            if (host.services.includes(check.service)) {
              const map = states.get(host.name) ?? new Map<string, State>();
              map.set(check.service, 'green');
              states.set(host.name, map);
            }
          }
          continue;
        }
        for (const sample of samples) {
          const host = sample.metric.host;
          if (host === undefined) continue;
          const map = states.get(host) ?? new Map<string, State>();
          map.set(check.service, sample.value[1] === '1' ? 'green' : 'red');
          states.set(host, map);
        }
      }
      const active = alerts.alerts.filter((a) => a.state !== 'inactive');
      for (const view of hosts) {
        view.update(
          states.get(view.host.name) ?? new Map(),
          active.filter((a) => a.labels.host === view.host.name),
        );
      }
      renderAlerts(active);
      const upCount = up.result.filter((s) => s.value[1] === '1').length;
      const firing = active.filter((a) => a.state === 'firing');
      summary.textContent = `${upCount}/${up.result.length} targets up · ${firing.length} alert${firing.length === 1 ? '' : 's'} firing`;
      summary.dataset.state = firing.some((a) => a.labels.severity === 'critical')
        ? 'red'
        : firing.length > 0 || upCount < up.result.length
          ? 'amber'
          : 'green';
      for (const [i, view] of charts.entries()) {
        const chart = config.charts[i];
        if (chart === undefined) continue;
        const { xs, series } = await chartData(config, chart);
        view.update(xs, series);
      }
      renderNotifications(await getJson<Notification[]>(NOTIFICATIONS_PATH));
      byId('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      summary.textContent = `cannot read Prometheus: ${(error as Error).message}`;
      summary.dataset.state = 'red';
    }
  };
  const loop = async (): Promise<void> => {
    await refresh();
    window.setTimeout(() => void loop(), config.refreshSeconds * 1000);
  };
  await loop();
}

void main();
