/**
 * What a web server knows of its database servers, from its own queries and from probes: which
 * answered lately, which failed since, whether the primary takes writes. Pure bookkeeping (the
 * clock is passed in), so the rules below are tested without a database.
 *
 * A server that failed is "down": reads skip it and writes give up on it at once once it has been
 * down longer than their retry budget. Only a probe (or a query that succeeds) brings it back, so
 * a silent server costs one timeout to the requests that found it silent, not one to every request.
 */

/** "Reached" means it answered within this long: past it, the web server is not ready. */
export const REACH_FRESH_MS = 2000;
/**
 * A readiness check probes the servers again when the last probe started this long ago. The
 * failover managers ask every web server's /readyz several times a second, so this is how soon
 * a web server notices a primary it can no longer reach (plus the probe's timeout): a partition
 * between the web servers and the primary is failed over that much sooner.
 */
export const PROBE_AFTER_MS = 250;

export interface ServerHealth {
  /** Last time the server answered (ms since the epoch). */
  lastOkAt: number | undefined;
  /** Since when it has failed, if its last answer was a failure. */
  downSince: number | undefined;
  lastError: string | undefined;
  /** @@global.read_only as last seen (the primary's says whether it takes writes). */
  readOnly: boolean | undefined;
}

export function newServerHealth(): ServerHealth {
  return { lastOkAt: undefined, downSince: undefined, lastError: undefined, readOnly: undefined };
}

export function markOk(health: ServerHealth, now: number, readOnly?: boolean): void {
  health.lastOkAt = now;
  health.downSince = undefined;
  health.lastError = undefined;
  if (readOnly !== undefined) health.readOnly = readOnly;
}

/**
 * An attempt that began at `since` failed: the server has not answered since then, or since its
 * last answer if that came later (attempts overlap, and a slow one may fail after a quick one
 * succeeded).
 */
export function markDown(health: ServerHealth, since: number, error: string): void {
  const from = Math.max(since, health.lastOkAt ?? since);
  health.downSince = Math.min(health.downSince ?? from, from);
  health.lastError = error;
}

export function isDown(health: ServerHealth): boolean {
  return health.downSince !== undefined;
}

/** It answered lately and has not failed since. */
export function isReached(health: ServerHealth, now: number): boolean {
  return (
    !isDown(health) && health.lastOkAt !== undefined && now - health.lastOkAt <= REACH_FRESH_MS
  );
}

/**
 * The database as /readyz and /metrics report it. `reachable`: some database server (primary or
 * replica) answered lately, so this web server can serve; `writable`: the primary takes writes, a
 * fact of the cluster rather than of this web server.
 */
export interface DbHealth {
  readonly primary: string;
  readonly primaryReachable: boolean;
  /** How long the primary has failed to answer (0 while it answers, or before a failure). */
  readonly primaryDownForMs: number;
  readonly writable: boolean;
  readonly reachable: boolean;
  readonly problem?: string;
}

export function dbHealth(
  primary: { readonly name: string; readonly health: ServerHealth },
  replicas: readonly ServerHealth[],
  now: number,
): DbHealth {
  const primaryReachable = isReached(primary.health, now);
  const reachable = primaryReachable || replicas.some((r) => isReached(r, now));
  const writable = primaryReachable && primary.health.readOnly === false;
  const { downSince } = primary.health;
  const primaryDownForMs = primaryReachable || downSince === undefined ? 0 : now - downSince;
  const base = { primary: primary.name, primaryReachable, primaryDownForMs, writable, reachable };
  if (writable) return base;
  if (primaryReachable) return { ...base, problem: `cannot write: ${primary.name} is read-only` };
  const why = primary.health.lastError ?? 'no answer yet';
  return { ...base, problem: `cannot write: the primary ${primary.name} does not answer (${why})` };
}

/** Before db.json is read there is no primary to name. */
export function noTopologyHealth(problem: string): DbHealth {
  return {
    primary: '',
    primaryReachable: false,
    primaryDownForMs: 0,
    writable: false,
    reachable: false,
    problem,
  };
}
