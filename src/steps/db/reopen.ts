/**
 * A primary that restarted: every MariaDB server starts read-only (render/mariadb), so the
 * primary of record whose server restarted — its machine rebooted faster than a failover, or
 * while automatic failover could not act (paused for anti-flap, no quorum) — takes no write
 * until it is opened again. `foobar up` does that; the leading failover manager does it too, so
 * the site is whole again with nobody at the keyboard (failover/manager.ts).
 */
import { isAhead, parseGtidList } from '../../lib/gtid.ts';
import { replicaStatus, runSql, serverState } from '../../probes/mariadb.ts';
import type { Context } from '../context.ts';
import { readDbState, replicasOf } from './state.ts';

export type Reopening =
  | { readonly opened: true; readonly detail: string }
  | { readonly opened: false; readonly reason: string };

/**
 * Opens the primary for writes if it answers read-only, database.json still names it at the
 * epoch the caller saw (so no change of primary happened meanwhile; the caller holds the lock,
 * so none is under way) and no replica received a transaction it lacks: a server that lost
 * committed transactions in its restart must not write over them (promote that replica then).
 * Undefined when there was nothing to do.
 */
export async function reopenPrimary(
  ctx: Context,
  seen: { readonly primary: string; readonly epoch: number },
): Promise<Reopening | undefined> {
  const state = await readDbState(ctx);
  if (state.primary !== seen.primary || state.epoch !== seen.epoch) return undefined;
  const primary = await serverState(ctx, state.primary);
  if (!primary.readOnly) return undefined;
  const has = parseGtidList(primary.gtidBinlogPos);
  const replicas = replicasOf(ctx, state);
  const ahead: string[] = [];
  await Promise.all(
    replicas.map(async (replica) => {
      // One that does not answer cannot be compared: it is caught up by replication later.
      const received = await replicaStatus(ctx, replica.name).catch(() => undefined);
      const position = received?.gtidIoPos ?? '';
      if (position !== '' && isAhead(parseGtidList(position), has))
        ahead.push(`${replica.name} (received ${position})`);
    }),
  );
  if (ahead.length > 0)
    return {
      opened: false,
      reason: `${state.primary} restarted read-only at ${primary.gtidBinlogPos || 'no GTID'} and ${ahead.join(', ')} has transactions it lost: left read-only; promote ${ahead.length === 1 ? 'it' : 'one'} (foobar db promote HOST --force)`,
    };
  await runSql(
    ctx,
    state.primary,
    `SET GLOBAL rpl_semi_sync_master_enabled = ${replicas.length > 0 ? 'ON' : 'OFF'};\nSET GLOBAL read_only = OFF;`,
  );
  return {
    opened: true,
    detail: `${state.primary}, the primary, answered read-only (its server restarted) at ${primary.gtidBinlogPos || 'no GTID'}; no replica ahead of it: opened for writes`,
  };
}
