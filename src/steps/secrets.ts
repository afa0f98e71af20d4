/**
 * `foobar secrets rotate`: a database password changed with nobody refused. The account first
 * accepts the new password beside the old one (MariaDB's `IDENTIFIED VIA ... OR ...`), then every
 * user of it takes the new one (the apps re-read their password file, the replicas get a new
 * CHANGE MASTER, the exporters restart), and only then is the old one dropped. The previous value
 * is kept as `<secret>.previous` until the end, so an interrupted rotation resumes where it was
 * (and `foobar up` meanwhile keeps both accepted).
 */
import { z } from 'zod';
import { randomPassword } from '../lib/secrets.ts';
import { waitFor } from '../lib/wait.ts';
import { dbHosts, dbSecretName, previousSecretName, type DbUser } from '../model/database.ts';
import { hostsWithRole, type Model } from '../model/model.ts';
import { httpRequest } from '../probes/http.ts';
import { runSql, serverState, sqlString } from '../probes/mariadb.ts';
import { credentialFingerprint } from '../../app/src/db/credential.ts';
import type { Context } from './context.ts';
import { backupAgentDaemon } from './backup.ts';
import { startDaemon, stopDaemon } from './daemon.ts';
import { reconcileAccounts } from './db/accounts.ts';
import { waitApplied, waitReplicating } from './db/replication.ts';
import { ensureAdminAccess } from './db/server.ts';
import { BACKUP_AGENT_ACCESS } from './backup-access.ts';
import { MANAGERS_ACCESS } from './failover-access.ts';
import { refreshAccessSecrets } from './ssh-access.ts';
import { readDbState, replicasOf, type DbState } from './db/state.ts';
import { pushTopologyToApps } from './db/topology.ts';
import { mysqldExporterDaemon } from './monitoring.ts';
import { SLOTS, slotPort } from './slots.ts';

/** The secrets `foobar secrets rotate` knows, in the order "all" rotates them. */
export const ROTATABLE: readonly DbUser[] = [
  'app',
  'replication',
  'failover',
  'monitor',
  'backup',
  'admin',
];

export function rotatableNames(): string[] {
  return ROTATABLE.map(dbSecretName);
}

/** The accounts this model has: the backup account only with a backup host. */
function rotatableIn(model: Model): DbUser[] {
  return ROTATABLE.filter((role) => role !== 'backup' || hostsWithRole(model, 'backup').length > 0);
}

/** How long the apps get to log in with the new password: they see the file change within 1 s. */
const APPS_TAKE_PASSWORD_MS = 20_000;
/** How long replicas get to apply an account change. */
const REPLICAS_APPLY_S = 20;

export interface Rotation {
  readonly secret: string;
  readonly seconds: number;
  /** True when an interrupted rotation of this secret was finished. */
  readonly resumed: boolean;
  /** Who took the new password, in order. */
  readonly steps: readonly string[];
}

/** Rotates the named secrets (every rotatable one when none is named), one after another. */
export async function rotateSecrets(
  ctx: Context,
  names: readonly string[],
  say: (line: string) => void = () => undefined,
): Promise<Rotation[]> {
  const known = rotatableIn(ctx.model).map(dbSecretName);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new Error(
      `no secret ${unknown.map((n) => `"${n}"`).join(', ')} to rotate: foobar rotates ${known.join(', ')}`,
    );
  }
  const roles = rotatableIn(ctx.model);
  const chosen = names.length === 0 ? roles : roles.filter((r) => names.includes(dbSecretName(r)));
  const done: Rotation[] = [];
  for (const role of chosen) done.push(await rotate(ctx, role, say));
  return done;
}

async function rotate(ctx: Context, role: DbUser, say: (line: string) => void): Promise<Rotation> {
  const started = Date.now();
  const secret = dbSecretName(role);
  const previous = previousSecretName(secret);
  const steps: string[] = [];
  const step = (line: string): void => {
    steps.push(line);
    say(`${secret}: ${line}`);
  };
  const resumed = (await ctx.secrets.peek(previous)) !== undefined;
  if (!resumed) {
    // The old value is kept first: a crash after this line leaves both known.
    await ctx.secrets.set(previous, await ctx.secrets.get(secret));
    await ctx.secrets.set(secret, randomPassword());
  } else step('finishing the rotation that was interrupted');
  const state = await readDbState(ctx);
  if (role === 'admin') {
    // foobar's own account, local to each server (root over the socket sets it): no other user.
    for (const db of dbHosts(ctx.model)) await ensureAdminAccess(ctx, db.name);
    step(
      `set on ${dbHosts(ctx.model)
        .map((h) => h.name)
        .join(', ')}`,
    );
    await refreshManagers(ctx, step);
  } else {
    await changeAccounts(ctx, state);
    step('the accounts accept the new password beside the old one');
    // Before anyone could be refused: a manager on a machine logs in with its own copy.
    await refreshManagers(ctx, step);
    step(await handOver(ctx, role, state));
  }
  await ctx.secrets.remove(previous);
  if (role !== 'admin') {
    await changeAccounts(ctx, state);
    step('the old password is refused');
  }
  return { secret, seconds: (Date.now() - started) / 1000, resumed, steps };
}

/**
 * On machines, the copies of the passwords the failover managers and the backup agent log in
 * with (steps/ssh-access.ts).
 */
async function refreshManagers(ctx: Context, step: (line: string) => void): Promise<void> {
  for (const access of [MANAGERS_ACCESS, BACKUP_AGENT_ACCESS]) {
    const refreshed = await refreshAccessSecrets(ctx, access);
    if (refreshed !== undefined) step(refreshed);
  }
}

/** The accounts as the secrets say, on the primary and, before returning, on every replica. */
async function changeAccounts(ctx: Context, state: DbState): Promise<void> {
  await reconcileAccounts(ctx, state.primary);
  const { gtidBinlogPos } = await serverState(ctx, state.primary);
  for (const replica of replicasOf(ctx, state)) {
    if (!(await waitApplied(ctx, replica.name, gtidBinlogPos, REPLICAS_APPLY_S))) {
      throw new Error(
        `${replica.name} has not applied the account change in ${REPLICAS_APPLY_S} s (foobar db status shows its replication): ` +
          'run foobar secrets rotate again once it replicates; the old password is still accepted',
      );
    }
  }
}

/** Every user of the account takes the new password; what happened, in a line. */
async function handOver(ctx: Context, role: DbUser, state: DbState): Promise<string> {
  switch (role) {
    case 'app':
      await pushTopologyToApps(ctx, state);
      return `${await waitAppsUse(ctx, await ctx.secrets.get(dbSecretName('app')))} log in with the new password`;
    case 'replication': {
      const password = await ctx.secrets.get(dbSecretName('replication'));
      const replicas = replicasOf(ctx, state);
      for (const replica of replicas) {
        // MariaDB changes a replica's password only with both threads stopped: they stop for
        // milliseconds, and start again even when the change fails. Semi-sync waits for the
        // replica's acknowledgement no longer than its timeout meanwhile.
        try {
          await runSql(
            ctx,
            replica.name,
            `STOP SLAVE;\nCHANGE MASTER TO MASTER_PASSWORD = ${sqlString(password)};`,
          );
        } finally {
          await runSql(ctx, replica.name, 'START SLAVE;');
        }
        await waitReplicating(ctx, replica.name, state.primary);
      }
      return replicas.length === 0
        ? 'no replica to tell'
        : `${replicas.map((r) => r.name).join(', ')} ${replicas.length === 1 ? 'replicates' : 'replicate'} with the new password`;
    }
    case 'failover':
      // The managers read the secret (on machines their copy, replaced above) at each login.
      return 'the failover managers log in with the new password';
    case 'monitor': {
      const dbs = dbHosts(ctx.model);
      for (const db of dbs) {
        const exporter = mysqldExporterDaemon(ctx, db);
        // Its login file is written before each start; a scrape or two is missed, no request.
        await stopDaemon(ctx, exporter);
        await startDaemon(ctx, exporter);
      }
      return `the exporters on ${dbs.map((h) => h.name).join(', ')} restarted with the new password`;
    }
    case 'backup': {
      const hosts = hostsWithRole(ctx.model, 'backup');
      for (const host of hosts) {
        // It writes its login when it starts; its binary-log follower starts again where it was.
        const agent = backupAgentDaemon(ctx, host);
        await stopDaemon(ctx, agent);
        await startDaemon(ctx, agent);
      }
      return `the backup agent on ${hosts.map((h) => h.name).join(', ')} restarted with the new password`;
    }
    case 'admin':
      return 'set';
  }
}

const Readiness = z.object({ credential: z.string().optional() });

/**
 * Waits until every app that runs (each web server's slots) logs in with `password`; names them.
 * An app that does not say which password it uses is from before rotation existed: it is named,
 * with what to do.
 */
async function waitAppsUse(ctx: Context, password: string): Promise<string> {
  const wanted = credentialFingerprint(password);
  const seen: string[] = [];
  const idle = new Set<string>();
  for (const web of hostsWithRole(ctx.model, 'web')) {
    for (const slot of SLOTS) {
      const url = `http://127.0.0.1:${slotPort(ctx.model, slot)}/readyz`;
      const what = `${web.name}: the app's ${slot} slot`;
      await waitFor(
        `${what} to log in with the new password`,
        async () => {
          const answer = await httpRequest(ctx.driver, web.name, url);
          if ('error' in answer) {
            // Nothing listens: the slot is idle.
            if (/refused|Couldn't connect/i.test(answer.error)) {
              idle.add(what);
              return undefined;
            }
            return answer.error;
          }
          let credential: string | undefined;
          try {
            credential = Readiness.parse(JSON.parse(answer.body)).credential;
          } catch {
            return `/readyz answered ${answer.status} without JSON`;
          }
          if (credential === undefined) {
            throw new Error(
              `${what} runs a release that cannot take a new password without a restart: deploy a newer one (foobar deploy), then foobar secrets rotate ${dbSecretName('app')} again; the old password is still accepted`,
            );
          }
          return credential === wanted ? undefined : 'still the old password';
        },
        { timeoutMs: APPS_TAKE_PASSWORD_MS },
      );
      if (!idle.has(what)) seen.push(`${web.name} (${slot})`);
    }
  }
  return seen.length === 0 ? 'no app runs; the apps' : `the apps on ${seen.join(', ')}`;
}
