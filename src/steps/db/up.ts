/**
 * The database tier in `foobar up`: the primary first (data directory, accounts, schema, open for
 * writes), then every replica (a copy of the primary's data, replication from it, semi-sync on
 * the primary once attached). On a healthy lab every task finds its work done.
 */
import { dbHosts } from '../../model/database.ts';
import type { Host } from '../../model/model.ts';
import { replicaStatus, runSql, serverState } from '../../probes/mariadb.ts';
import type { Context } from '../context.ts';
import { ensureDaemon } from '../daemon.ts';
import type { Phase } from '../plan.ts';
import { mariadbDaemon } from '../services.ts';
import { reconcileAccounts } from './accounts.ts';
import { applyMigrations, loadMigrations } from './migrations.ts';
import { ensureReplicating, ensureSemiSync } from './replication.ts';
import { describeCopy, ensureAdminAccess, positionCopiedData } from './server.ts';
import { primaryHost, readDbState, roleOf, type DbState } from './state.ts';

function outcome(changes: readonly string[]): string {
  return changes.length === 0 ? 'up to date' : changes.join(', ');
}

async function upPrimary(
  ctx: Context,
  host: Host,
  state: DbState,
  migrationsDir: () => Promise<string>,
): Promise<string> {
  const changes: string[] = [];
  const started = await ensureDaemon(ctx, mariadbDaemon(ctx, host, state));
  if (started !== 'running') changes.push(`mariadb ${started}`);
  if (await ensureAdminAccess(ctx, host.name)) changes.push('admin account set');
  // The state file is the authority: the primary replicates from no one.
  if ((await replicaStatus(ctx, host.name)) !== undefined) {
    await runSql(ctx, host.name, 'STOP SLAVE;\nRESET SLAVE ALL;');
    changes.push('replication stopped');
  }
  changes.push(...(await reconcileAccounts(ctx, host.name)));
  const migrations = await loadMigrations(await migrationsDir());
  const applied = await applyMigrations(ctx, host.name, migrations);
  if (applied.length > 0) changes.push(`migrations ${applied.join(', ')} applied`);
  if ((await serverState(ctx, host.name)).readOnly) {
    await runSql(ctx, host.name, 'SET GLOBAL read_only = OFF;');
    changes.push('open for writes');
  }
  return outcome(changes.length === 0 ? [] : ['primary', ...changes]);
}

async function upReplica(ctx: Context, host: Host, state: DbState): Promise<string> {
  const changes: string[] = [];
  const primary = primaryHost(ctx, state);
  const started = await ensureDaemon(ctx, mariadbDaemon(ctx, host, state));
  if (started !== 'running') changes.push(`mariadb ${started}`);
  if (await ensureAdminAccess(ctx, host.name)) changes.push('admin account set');
  const copied = await positionCopiedData(ctx, host.name);
  if (copied !== undefined) changes.push(describeCopy(copied));
  const replication = await ensureReplicating(ctx, host.name, primary);
  if (replication !== undefined) changes.push(replication);
  if (await ensureSemiSync(ctx, primary.name)) changes.push(`semi-sync on at ${primary.name}`);
  return outcome(changes.length === 0 ? [] : ['replica', ...changes]);
}

/**
 * A server restored to an earlier point (`db restore --to`) stays as it is, replicating from no
 * one, until the operator has looked at it: `up` keeps it running and says how to bring it back.
 */
async function upRestored(ctx: Context, host: Host, state: DbState): Promise<string> {
  const started = await ensureDaemon(ctx, mariadbDaemon(ctx, host, state));
  const point = state.restored?.find((r) => r.host === host.name)?.point ?? 'an earlier point';
  return `${started === 'running' ? '' : `mariadb ${started}, `}restored to ${point}, not replicating: \`foobar db rejoin ${host.name}\` makes it a replica`;
}

/**
 * `migrationsDir`: the migrations of the release the web servers serve (or are about to get):
 * the schema follows releases, not whatever the checkout holds now.
 */
export function databasePhase(ctx: Context, migrationsDir: () => Promise<string>): Phase {
  let primaryDone: Promise<{ state: DbState; outcome: string }> | undefined;
  // Replicas copy the primary's data and replicate from it: they wait for its task.
  const primaryReady = (): Promise<{ state: DbState; outcome: string }> =>
    (primaryDone ??= (async () => {
      const state = await readDbState(ctx);
      const primary = primaryHost(ctx, state);
      return { state, outcome: await upPrimary(ctx, primary, state, migrationsDir) };
    })());
  return {
    title: 'Databases',
    tasks: dbHosts(ctx.model).map((host) => ({
      title: host.name,
      run: async () => {
        const { state, outcome: primaryOutcome } = await primaryReady();
        switch (roleOf(state, host.name)) {
          case 'primary':
            return primaryOutcome;
          case 'fenced':
            return `fenced (a former primary): \`foobar db rejoin ${host.name}\` makes it a replica`;
          case 'replica':
            return upReplica(ctx, host, state);
          case 'restored':
            return upRestored(ctx, host, state);
        }
      },
    })),
  };
}
