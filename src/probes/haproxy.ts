/** What a load balancer thinks of its web servers, from HAProxy's stats CSV. */
import type { Context } from '../steps/context.ts';
import { HAPROXY_BACKEND, HAPROXY_WRITES_BACKEND } from '../render/haproxy/index.ts';
import { httpRequest } from './http.ts';

export interface BackendServer {
  readonly name: string;
  /** HAProxy's word: UP, DOWN, MAINT, DRAIN, "UP 1/2" while rising, ... */
  readonly status: string;
  readonly up: boolean;
  /** Requests in progress on it now (writes included, from their backend of their own). */
  readonly sessions: number;
  /** Requests it has been given since HAProxy started (of this backend only). */
  readonly total: number;
  /** Requests retried after failing on it, or redispatched from it to another server (wretr + wredis). */
  readonly retried: number;
}

export function parseStatsCsv(csv: string, backend: string): BackendServer[] {
  const [header, ...rows] = csv.trim().split('\n');
  const columns = (header ?? '').replace(/^# /, '').split(',');
  const at = (name: string): number => columns.indexOf(name);
  const [px, sv, status, scur, stot, wretr, wredis] = [
    at('pxname'),
    at('svname'),
    at('status'),
    at('scur'),
    at('stot'),
    at('wretr'),
    at('wredis'),
  ];
  return rows
    .map((row) => row.split(','))
    .filter((cells) => cells[px] === backend && cells[sv] !== 'FRONTEND' && cells[sv] !== 'BACKEND')
    .map((cells) => {
      const word = cells[status] ?? '';
      return {
        name: cells[sv] ?? '',
        status: word,
        up: word === 'UP' || word.startsWith('UP '),
        sessions: Number(cells[scur] ?? 0),
        total: Number(cells[stot] ?? 0),
        retried: Number(cells[wretr] ?? 0) + Number(cells[wredis] ?? 0),
      };
    });
}

export function statsUrl(ctx: Context, suffix = ''): string {
  return `http://127.0.0.1:${ctx.model.ports.lbStats}/${suffix}`;
}

/** The web servers as this load balancer sees them, or an error if HAProxy does not answer. */
export async function backendServers(
  ctx: Context,
  lb: string,
): Promise<BackendServer[] | { error: string }> {
  const result = await httpRequest(ctx.driver, lb, statsUrl(ctx, ';csv'));
  if ('error' in result) return result;
  if (result.status !== 200) return { error: `stats answered ${result.status}` };
  const writes = parseStatsCsv(result.body, HAPROXY_WRITES_BACKEND);
  return parseStatsCsv(result.body, HAPROXY_BACKEND).map((server) => ({
    ...server,
    sessions: server.sessions + (writes.find((w) => w.name === server.name)?.sessions ?? 0),
  }));
}
