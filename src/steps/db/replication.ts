/**
 * Replication between database servers: GTID-based (a replica asks for what it lacks, whoever
 * the primary is), heartbeats well under a second, semi-synchronous once a replica is attached.
 */
import { DB_USERS, dbSecretName } from '../../model/database.ts';
import { hostPaths } from '../../model/layout.ts';
import { addressOf, type Host } from '../../model/model.ts';
import { trustedCa } from '../../model/transit.ts';
import { waitFor } from '../../lib/wait.ts';
import {
  replicaStatus,
  runSql,
  serverState,
  sqlString,
  type ReplicaStatus,
} from '../../probes/mariadb.ts';
import type { Context } from '../context.ts';

/**
 * CHANGE MASTER for `replica` of `source`, over TLS with the source's certificate verified by its
 * address. It carries the replication password: SQL on stdin only.
 */
async function changeMasterSql(ctx: Context, replica: string, source: Host): Promise<string> {
  const password = await ctx.secrets.get(dbSecretName('replication'));
  const heartbeat = (ctx.model.database.heartbeatMs / 1000).toFixed(3);
  return `CHANGE MASTER TO MASTER_HOST = ${sqlString(addressOf(source, 'core'))},
  MASTER_PORT = ${ctx.model.ports.mysql},
  MASTER_USER = ${sqlString(DB_USERS.replication)},
  MASTER_PASSWORD = ${sqlString(password)},
  MASTER_USE_GTID = slave_pos,
  MASTER_HEARTBEAT_PERIOD = ${heartbeat},
  MASTER_CONNECT_RETRY = 1,
  MASTER_SSL = 1,
  MASTER_SSL_CA = ${sqlString(trustedCa(hostPaths(ctx.model, replica)))},
  MASTER_SSL_VERIFY_SERVER_CERT = 1;`;
}

function replicationProblem(status: ReplicaStatus | undefined): string | undefined {
  if (status === undefined) return 'not a replica';
  if (!status.ioRunning) {
    const why = status.lastIoError === '' ? '' : `: ${status.lastIoError}`;
    return `fetching: I/O thread ${status.ioState}${why}`;
  }
  if (!status.sqlRunning) {
    const why = status.lastSqlError === '' ? '' : `: ${status.lastSqlError}`;
    return `applying: SQL thread stopped${why}`;
  }
  return undefined;
}

/** A stopped thread with an error stays stopped: waiting longer will not help. */
function isStuck(status: ReplicaStatus | undefined): boolean {
  if (status === undefined) return false;
  return (
    (status.ioState === 'No' && status.lastIoError !== '') ||
    (!status.sqlRunning && status.lastSqlError !== '')
  );
}

/** Waits until both replication threads run; the error says why they do not. */
export async function waitReplicating(
  ctx: Context,
  replica: string,
  source: string,
): Promise<void> {
  const hint = `(foobar db status shows the state; the server's log: foobar logs ${replica} mariadb)`;
  await waitFor(
    `${replica}: replication from ${source}`,
    async () => {
      const status = await replicaStatus(ctx, replica);
      const problem = replicationProblem(status);
      if (isStuck(status))
        throw new Error(
          `${replica}: replication from ${source} failed: ${problem ?? ''}\n  ${hint}`,
        );
      return problem;
    },
    { timeoutMs: 15_000 },
  );
}

/**
 * Points a server at `source` and starts replication from its GTID position: its own history
 * (@@gtid_binlog_pos) when it was a primary, where it stopped when it was a replica.
 */
export async function replicateFrom(
  ctx: Context,
  replica: string,
  source: Host,
  options: { fromOwnHistory?: boolean } = {},
): Promise<void> {
  const sql = [
    'STOP SLAVE;',
    'RESET SLAVE ALL;',
    'SET GLOBAL read_only = ON;',
    'SET GLOBAL rpl_semi_sync_master_enabled = OFF;',
    ...(options.fromOwnHistory === true ? ['SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos;'] : []),
    await changeMasterSql(ctx, replica, source),
    'START SLAVE;',
    '',
  ].join('\n');
  await runSql(ctx, replica, sql);
  await waitReplicating(ctx, replica, source.name);
}

/** For `up`: replication from the primary, running; returns what it changed, if anything. */
export async function ensureReplicating(
  ctx: Context,
  replica: string,
  primary: Host,
): Promise<string | undefined> {
  const status = await replicaStatus(ctx, replica);
  const fromPrimary =
    status?.sourceHost === addressOf(primary, 'core') &&
    status.usingGtid === 'Slave_Pos' &&
    status.verifiedTls;
  if (fromPrimary && replicationProblem(status) === undefined) return undefined;
  if (fromPrimary && !isStuck(status)) {
    await runSql(ctx, replica, 'START SLAVE;');
    await waitReplicating(ctx, replica, primary.name);
    return 'replication started';
  }
  await replicateFrom(ctx, replica, primary);
  return `replicating from ${primary.name}`;
}

/**
 * Semi-synchronous replication on the primary once a replica is attached: before that, every
 * commit would wait for the timeout. True when it switched it on now.
 */
export async function ensureSemiSync(ctx: Context, primary: string): Promise<boolean> {
  const state = await serverState(ctx, primary);
  if (state.semiSyncMasterEnabled) return false;
  await runSql(ctx, primary, 'SET GLOBAL rpl_semi_sync_master_enabled = ON;');
  return true;
}

/** Waits until a server has applied everything up to `gtid`; false if it did not in time. */
export async function waitApplied(
  ctx: Context,
  host: string,
  gtid: string,
  timeoutSeconds: number,
): Promise<boolean> {
  if (gtid === '') return true;
  const [rows = []] = await runSql(
    ctx,
    host,
    `SELECT MASTER_GTID_WAIT(${sqlString(gtid)}, ${timeoutSeconds}) AS waited;`,
    (timeoutSeconds + 10) * 1000,
  );
  return rows[0]?.waited === '0';
}
