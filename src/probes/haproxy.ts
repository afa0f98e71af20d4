/** What a load balancer thinks of its web servers, from HAProxy's stats CSV. */
import type { Context } from '../steps/context.ts';
import { hostPaths } from '../model/layout.ts';
import { HAPROXY_BACKEND, HAPROXY_WRITES_BACKEND, haproxyFiles } from '../render/haproxy/index.ts';
import { httpRequest } from './http.ts';

/** How long HAProxy's stats may take to come, as curl's --max-time on its stats page. */
const STATS_TIMEOUT_MS = 2000;

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

/**
 * HAProxy's stats CSV: from its admin socket when this machine reaches it (the lab: `show stat`
 * answers the same CSV as the stats page), otherwise from the stats page on the load balancer.
 */
async function statsCsv(ctx: Context, lb: string): Promise<string | { error: string }> {
  if (ctx.direct !== undefined) {
    const socket = haproxyFiles(hostPaths(ctx.model, lb)).socket;
    try {
      const answer = await ctx.direct.ask(socket, 'show stat\n', STATS_TIMEOUT_MS);
      // Not the CSV: HAProxy said why (its runtime API answers an error in words).
      return answer.startsWith('# pxname')
        ? answer
        : { error: `${socket} answered: ${answer.trim().slice(0, 200)}` };
    } catch (error) {
      return { error: (error as Error).message };
    }
  }
  const result = await httpRequest(ctx.driver, lb, statsUrl(ctx, ';csv'), {
    timeoutSeconds: STATS_TIMEOUT_MS / 1000,
  });
  if ('error' in result) return result;
  if (result.status !== 200) return { error: `stats answered ${result.status}` };
  return result.body;
}

/** The web servers as this load balancer sees them, or an error if HAProxy does not answer. */
export async function backendServers(
  ctx: Context,
  lb: string,
): Promise<BackendServer[] | { error: string }> {
  const csv = await statsCsv(ctx, lb);
  if (typeof csv !== 'string') return csv;
  const writes = parseStatsCsv(csv, HAPROXY_WRITES_BACKEND);
  return parseStatsCsv(csv, HAPROXY_BACKEND).map((server) => ({
    ...server,
    sessions: server.sessions + (writes.find((w) => w.name === server.name)?.sessions ?? 0),
  }));
}
