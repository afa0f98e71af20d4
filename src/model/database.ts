/** Facts about the database tier that derive from the model: its servers, their ids, its users. */
import { addressOf, hostsWithRole, type Host, type Model } from './model.ts';
import { parseIPv4 } from './net.ts';

/** The accounts foobar creates on every database server; their passwords are generated secrets. */
export const DB_USERS = {
  /** The app: reads and inserts rows of its own schema, from the web servers only. */
  app: 'foobar_app',
  /** Replicas fetch the binary log with it, from the database servers only. */
  replication: 'foobar_repl',
  /** foobar itself, over the server's Unix socket only. */
  admin: 'foobar_admin',
  /** The monitor's exporter beside each server: status and replication, over the socket only. */
  monitor: 'foobar_monitor',
  /**
   * The failover managers, from their own hosts over the network: replication and read-only
   * switches for a promotion, no data (a spawned client per statement costs more than the whole
   * statement on a busy machine).
   */
  failover: 'foobar_failover',
  /**
   * The backup host: follows the primary's binary log and closes its file, from its own address;
   * no data (the full backups are taken on a replica, as foobar's admin).
   */
  backup: 'foobar_backup',
} as const;
export type DbUser = keyof typeof DB_USERS;

/** The secret that holds a database user's password. */
export function dbSecretName(user: DbUser): string {
  return `db-${user}`;
}

/** While a secret is rotated, its previous value: still accepted until every user has the new one. */
export function previousSecretName(secret: string): string {
  return `${secret}.previous`;
}

export function dbHosts(model: Model): Host[] {
  return hostsWithRole(model, 'db');
}

/**
 * A server's replication id: its host number on the core network (31 for 10.77.2.31). Unique
 * because addresses are, and stable as long as the host keeps its address.
 */
export function serverIdOf(model: Model, host: Host): number {
  const address = parseIPv4(addressOf(host, 'core'));
  if (address === undefined) throw new Error(`${host.name} has no valid core address`);
  return address - model.networks.core.subnet.base;
}

/** Replicas give up on a silent primary after this many seconds (several missed heartbeats). */
export function replicaNetTimeoutSeconds(model: Model): number {
  return Math.max(1, Math.ceil((model.database.heartbeatMs * 8) / 1000));
}
