/**
 * `foobar db status`: the primary, each replica's threads, lag and GTID positions, semi-sync,
 * as the servers themselves report them now.
 */
import { dbHosts } from '../../model/database.ts';
import { addressOf, type Host } from '../../model/model.ts';
import {
  pingServer,
  replicaStatus,
  serverState,
  type ReplicaStatus,
  type ServerState,
} from '../../probes/mariadb.ts';
import type { Context } from '../context.ts';
import { recoverableAt } from '../backup.ts';
import type { Health } from '../status.ts';
import { readDbState, roleOf, type DbRole } from './state.ts';
import { failoverStatus, type FailoverView } from '../failover.ts';

export interface ReplicaView {
  readonly name: string;
  readonly up: boolean;
  readonly lagSeconds: number | null;
  readonly ioRunning: boolean;
  readonly sqlRunning: boolean;
  /** The db host it replicates from (null: none, or an address not in the model). */
  readonly source: string | null;
  readonly gtidIoPos: string;
  readonly gtidSlavePos: string;
  readonly gtidBinlogPos: string;
  readonly lastError: string | null;
}

export interface FencedView {
  readonly name: string;
  readonly up: boolean;
}

export interface RestoredView {
  readonly name: string;
  readonly up: boolean;
  /** The point it was restored to (`time=ISO` or `gtid=LIST`), and its GTID position then. */
  readonly point: string;
  readonly gtid: string;
  /** Where its data from before the restore was kept. */
  readonly aside: string | null;
}

export interface DbStatus {
  readonly primary: string;
  readonly primaryUp: boolean;
  readonly writable: boolean;
  /** Commits on the primary wait for a replica's acknowledgement right now. */
  readonly semiSync: boolean;
  readonly semiSyncReplicas: number;
  readonly gtidBinlogPos: string;
  readonly replicas: readonly ReplicaView[];
  readonly fenced: readonly FencedView[];
  /** Servers restored to an earlier point, not replicating (`db restore --to`). */
  readonly restored: readonly RestoredView[];
  /**
   * Hosts the last change of primary could not reach (database.json's `unreached`): what it owes
   * them is done by `foobar up` or `foobar db rejoin`; a web server among them is out of rotation.
   */
  readonly unreached: readonly string[];
  readonly epoch: number;
  /** The failover managers' view (etcd, leader, armed or paused and why, each observer). */
  readonly failover: FailoverView;
  /**
   * Backups, as the backup agent last saw them: the newest recoverable moment (RPO) and when the
   * newest full backup finished. Absent without a backup host.
   */
  readonly backups?: { readonly recoverableAt?: string; readonly lastFull?: string };
  readonly health: Health;
  readonly problems: readonly string[];
}

interface Probe {
  readonly host: Host;
  readonly role: DbRole;
  readonly up: boolean;
  readonly error?: string;
  readonly state?: ServerState;
  readonly replica?: ReplicaStatus;
}

async function probe(ctx: Context, host: Host, role: DbRole): Promise<Probe> {
  const problem = await pingServer(ctx, host.name).catch((e: unknown) => (e as Error).message);
  if (problem !== undefined) return { host, role, up: false, error: problem };
  try {
    const [state, replica] = await Promise.all([
      serverState(ctx, host.name),
      replicaStatus(ctx, host.name),
    ]);
    return { host, role, up: true, state, ...(replica === undefined ? {} : { replica }) };
  } catch (error) {
    return { host, role, up: false, error: (error as Error).message };
  }
}

export async function dbStatus(ctx: Context): Promise<DbStatus> {
  const cluster = await readDbState(ctx);
  const [probes, failover] = await Promise.all([
    Promise.all(dbHosts(ctx.model).map((host) => probe(ctx, host, roleOf(cluster, host.name)))),
    failoverStatus(ctx),
  ]);
  const nameOf = (address: string): string | null =>
    dbHosts(ctx.model).find((h) => addressOf(h, 'core') === address)?.name ?? null;
  const primary = probes.find((p) => p.role === 'primary');
  const problems: string[] = [];
  const replicas = probes
    .filter((p) => p.role === 'replica')
    .map((p): ReplicaView => {
      const r = p.replica;
      const lastError = r === undefined ? null : r.lastSqlError || r.lastIoError || null;
      return {
        name: p.host.name,
        up: p.up,
        lagSeconds: r?.lagSeconds ?? null,
        ioRunning: r?.ioRunning ?? false,
        sqlRunning: r?.sqlRunning ?? false,
        source: r === undefined ? null : nameOf(r.sourceHost),
        gtidIoPos: r?.gtidIoPos ?? '',
        gtidSlavePos: p.state?.gtidSlavePos ?? '',
        gtidBinlogPos: p.state?.gtidBinlogPos ?? '',
        lastError: p.up ? lastError : (p.error ?? 'down'),
      };
    });
  // Why it does not (refused, or a greeting that did not come in time) is what tells a dead
  // server from a slow one.
  if (primary?.up !== true)
    problems.push(
      `the primary ${cluster.primary} does not answer${primary?.error === undefined ? '' : ` (${primary.error})`}`,
    );
  else if (primary.state?.readOnly === true)
    problems.push(`the primary ${cluster.primary} is read-only`);
  for (const r of replicas) {
    if (!r.up) problems.push(`${r.name} does not answer`);
    else if (!r.ioRunning || !r.sqlRunning || r.source !== cluster.primary)
      problems.push(
        `${r.name} does not replicate from ${cluster.primary}${r.lastError === null ? '' : `: ${r.lastError}`}`,
      );
  }
  const semiSync = primary?.state?.semiSyncMasterActive === true;
  if (replicas.length > 0 && primary?.up === true && !semiSync)
    problems.push('semi-sync is off: a commit is not waiting for any replica');
  for (const name of cluster.fenced)
    problems.push(`${name} is fenced: foobar db rejoin ${name} makes it a replica`);
  for (const name of cluster.unreached ?? [])
    problems.push(
      `${name} could not be reached by the last change of primary (its firewall, app settings or a kill are owed; a web server is out of rotation): the failover managers finish it once it answers (foobar up or foobar db rejoin would too)`,
    );
  const restored = probes
    .filter((p) => p.role === 'restored')
    .map((p): RestoredView => {
      const r = cluster.restored?.find((x) => x.host === p.host.name);
      return {
        name: p.host.name,
        up: p.up,
        point: r?.point ?? '',
        gtid: r?.gtid ?? '',
        aside: r?.aside ?? null,
      };
    });
  for (const r of restored)
    problems.push(
      `${r.name} is restored to ${r.point}, not replicating: foobar db rejoin ${r.name} makes it a replica again`,
    );
  const writable = primary?.up === true && primary.state?.readOnly === false;
  const backups = await recoverableAt(ctx).catch(() => ({}));
  return {
    primary: cluster.primary,
    primaryUp: primary?.up === true,
    writable,
    semiSync,
    semiSyncReplicas: primary?.state?.semiSyncClients ?? 0,
    gtidBinlogPos: primary?.state?.gtidBinlogPos ?? '',
    replicas,
    fenced: probes.filter((p) => p.role === 'fenced').map((p) => ({ name: p.host.name, up: p.up })),
    restored,
    unreached: cluster.unreached ?? [],
    epoch: cluster.epoch,
    failover,
    ...(backups === undefined
      ? {}
      : {
          backups: {
            ...('at' in backups && backups.at !== undefined ? { recoverableAt: backups.at } : {}),
            ...('lastFull' in backups && backups.lastFull !== undefined
              ? { lastFull: backups.lastFull }
              : {}),
          },
        }),
    health: !writable ? 'failed' : problems.length > 0 ? 'degraded' : 'healthy',
    problems,
  };
}
