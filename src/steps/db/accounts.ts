/**
 * The database accounts of the model, each with only what it needs: the app may read and insert
 * in its schema from the web servers' addresses; replication may fetch the binary log from the
 * database servers' addresses; the failover managers may switch replication from their hosts'. Passwords are generated secrets and only their hashes reach the
 * server, so neither a statement nor the binary log ever holds one.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  DB_USERS,
  dbHosts,
  dbSecretName,
  previousSecretName,
  type DbUser,
} from '../../model/database.ts';
import { failoverMembers } from '../../model/failover.ts';
import { addressOf, hostsWithRole, type Model } from '../../model/model.ts';
import { runSql, sqlString } from '../../probes/mariadb.ts';
import type { Context } from '../context.ts';

/** The mysql_native_password hash of a password, as PASSWORD() computes it. */
export function passwordHash(password: string): string {
  const sha1 = (data: string | Buffer): Buffer => createHash('sha1').update(data).digest();
  return `*${sha1(sha1(password)).toString('hex').toUpperCase()}`;
}

/**
 * The password hashes an account accepts: its secret's, and while the secret is being rotated
 * (`foobar secrets rotate`) the previous one's too, so nobody using it is refused meanwhile.
 */
export async function acceptedHashes(ctx: Context, role: DbUser): Promise<string[]> {
  const name = dbSecretName(role);
  const current = passwordHash(await ctx.secrets.get(name));
  const previous = await ctx.secrets.peek(previousSecretName(name));
  return previous === undefined ? [current] : [current, passwordHash(previous)];
}

/** `IDENTIFIED ...` for an account that accepts any of these hashes (MariaDB's `OR` chain). */
export function identifiedBy(hashes: readonly string[]): string {
  if (hashes.length === 1) return `IDENTIFIED BY PASSWORD ${sqlString(hashes[0] ?? '')}`;
  return `IDENTIFIED VIA ${hashes.map((h) => `mysql_native_password USING ${sqlString(h)}`).join(' OR ')}`;
}

const GlobalPriv = z.object({
  authentication_string: z.string().optional(),
  auth_or: z.array(z.object({ authentication_string: z.string().optional() })).optional(),
  /** 1: REQUIRE SSL. */
  ssl_type: z.number().optional(),
});

/** True when an account's `mysql.global_priv` row says it must log in over TLS (REQUIRE SSL). */
export function requiresSsl(priv: string): boolean {
  try {
    return GlobalPriv.parse(JSON.parse(priv)).ssl_type === 1;
  } catch {
    return false;
  }
}

/** Accounts used over the network log in over TLS only; a local one (the socket) cannot use it. */
export function needsSsl(account: Pick<Account, 'host'>): boolean {
  return account.host !== 'localhost';
}

/**
 * The hashes an account accepts, from its `mysql.global_priv` row: the first method is the row's
 * own, an `OR` chain adds the others (its first entry stands for the row's own).
 */
export function hashesOf(priv: string): string[] {
  let parsed: z.infer<typeof GlobalPriv>;
  try {
    parsed = GlobalPriv.parse(JSON.parse(priv));
  } catch {
    return [];
  }
  const first = parsed.authentication_string ?? '';
  if (parsed.auth_or === undefined) return [first];
  return parsed.auth_or.map((method, i) =>
    i === 0 ? first : (method.authentication_string ?? ''),
  );
}

export interface Account {
  readonly role: DbUser;
  readonly user: string;
  readonly host: string;
  /**
   * What follows GRANT: "SELECT, INSERT ON `foobar`.*". Server-wide ones ("... ON *.*") are
   * spelled as information_schema.USER_PRIVILEGES lists them, so an account that lacks one is
   * given it (a new foobar may need more than the one that made the account).
   */
  readonly privileges: string;
}

/** The server-wide privileges of an account ("RELOAD, PROCESS ON *.*"), or none. */
export function globalPrivileges(account: Pick<Account, 'privileges'>): string[] {
  const match = /^(.*) ON \*\.\*$/.exec(account.privileges);
  return match?.[1] === undefined ? [] : match[1].split(',').map((p) => p.trim());
}

/** The accounts foobar keeps on the primary (and so, by replication, everywhere). */
export function desiredAccounts(model: Model): Account[] {
  const schema = `\`${model.database.schema}\`.*`;
  return [
    ...hostsWithRole(model, 'web').map((web) => ({
      role: 'app' as const,
      user: DB_USERS.app,
      host: addressOf(web, 'core'),
      privileges: `SELECT, INSERT ON ${schema}`,
    })),
    ...dbHosts(model).map((db) => ({
      role: 'replication' as const,
      user: DB_USERS.replication,
      host: addressOf(db, 'core'),
      privileges: 'REPLICATION SLAVE ON *.*',
    })),
    // Promotes: stops and points replication, switches read_only and semi-sync, kills a
    // replica's I/O thread; reads status. No table, no data, no accounts.
    ...failoverMembers(model).map((member) => ({
      role: 'failover' as const,
      user: DB_USERS.failover,
      host: addressOf(member, 'core'),
      privileges:
        'RELOAD, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, READ_ONLY ADMIN, CONNECTION ADMIN, PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.*',
    })),
    // Follows the binary log, lists and closes its files (FLUSH BINARY LOGS); no table, no data.
    ...hostsWithRole(model, 'backup').map((backup) => ({
      role: 'backup' as const,
      user: DB_USERS.backup,
      host: addressOf(backup, 'core'),
      privileges: 'RELOAD, REPLICATION SLAVE, BINLOG MONITOR, BINLOG ADMIN ON *.*',
    })),
    // Reads counters and replication status; no table, no data.
    {
      role: 'monitor' as const,
      user: DB_USERS.monitor,
      host: 'localhost',
      privileges: 'PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.*',
    },
  ];
}

function accountName(user: string, host: string): string {
  return `${sqlString(user)}@${sqlString(host)}`;
}

/** The statements that make foobar's admin account, run as root on a server of its own. */
export function adminBootstrapSql(passwordHashValue: string): string {
  const admin = accountName(DB_USERS.admin, 'localhost');
  // Local to this server: kept out of the binary log, so it is never replayed elsewhere.
  return [
    'SET SESSION sql_log_bin = 0;',
    `CREATE USER IF NOT EXISTS ${admin} IDENTIFIED BY PASSWORD ${sqlString(passwordHashValue)};`,
    `ALTER USER ${admin} IDENTIFIED BY PASSWORD ${sqlString(passwordHashValue)};`,
    `GRANT ALL PRIVILEGES ON *.* TO ${admin} WITH GRANT OPTION;`,
    '',
  ].join('\n');
}

/**
 * Creates missing accounts, fixes passwords, drops accounts of hosts that left the model. Runs
 * on the primary with the binary log on, so every replica gets the same accounts. Returns what
 * it changed.
 */
export async function reconcileAccounts(ctx: Context, primary: string): Promise<string[]> {
  const wanted = desiredAccounts(ctx.model);
  const users = Object.values(DB_USERS).filter((u) => u !== DB_USERS.admin);
  // One client session for both reads: `up` runs this every time.
  const [existing = [], granted = []] = await runSql(
    ctx,
    primary,
    `SELECT User AS user, Host AS host, Priv AS priv FROM mysql.global_priv
       WHERE User IN (${users.map(sqlString).join(', ')});
     SELECT GRANTEE AS grantee, PRIVILEGE_TYPE AS privilege
       FROM information_schema.USER_PRIVILEGES
       WHERE ${users.map((u) => `GRANTEE LIKE ${sqlString(`'${u}'@%`)}`).join(' OR ')};`,
  );
  const statements: string[] = [];
  const changes: string[] = [];
  for (const account of wanted) {
    const hashes = await acceptedHashes(ctx, account.role);
    const name = accountName(account.user, account.host);
    const found = existing.find((row) => row.user === account.user && row.host === account.host);
    if (found === undefined) {
      statements.push(
        `CREATE USER ${name} ${identifiedBy(hashes)}${needsSsl(account) ? ' REQUIRE SSL' : ''};`,
        `GRANT ${account.privileges} TO ${name};`,
      );
      changes.push(`${account.user}@${account.host} created`);
    } else {
      if (hashesOf(found.priv ?? '').join(' ') !== hashes.join(' ')) {
        statements.push(`ALTER USER ${name} ${identifiedBy(hashes)};`);
        changes.push(
          `${account.user}@${account.host} ${hashes.length > 1 ? 'accepts the new password beside the old one' : 'password set'}`,
        );
      }
      if (needsSsl(account) && !requiresSsl(found.priv ?? '')) {
        statements.push(`ALTER USER ${name} REQUIRE SSL;`);
        changes.push(`${account.user}@${account.host} requires TLS`);
      }
      const grantee = `'${account.user}'@'${account.host}'`;
      const missing = globalPrivileges(account).filter(
        (p) => !granted.some((g) => g.grantee === grantee && g.privilege === p),
      );
      if (missing.length > 0) {
        statements.push(`GRANT ${missing.join(', ')} ON *.* TO ${name};`);
        changes.push(`${account.user}@${account.host} given ${missing.join(', ')}`);
      }
    }
  }
  for (const row of existing) {
    if (wanted.some((a) => a.user === row.user && a.host === row.host)) continue;
    statements.push(`DROP USER ${accountName(row.user ?? '', row.host ?? '')};`);
    changes.push(`${row.user ?? ''}@${row.host ?? ''} dropped`);
  }
  if (statements.length > 0) await runSql(ctx, primary, statements.join('\n'));
  return changes;
}
