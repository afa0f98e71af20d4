/** MariaDB on a database server: one my.cnf per host, the same for a primary and a replica. */
import path from 'node:path';
import type { HostPaths } from '../../model/layout.ts';
import { replicaNetTimeoutSeconds, serverIdOf } from '../../model/database.ts';
import { addressOf, type Host, type Model } from '../../model/model.ts';
import { transitFiles } from '../../model/transit.ts';
import { renderedHeader } from '../header.ts';

export interface MariadbFiles {
  readonly config: string;
  readonly datadir: string;
  /** Owned by the mysql user: mariadbd writes its socket and pid file there after dropping root. */
  readonly runDir: string;
  readonly socket: string;
  readonly serverPid: string;
  /** foobar's own pid file for the daemon, as for every daemon. */
  readonly pid: string;
  /** mariadbd's standard error: its error log. */
  readonly log: string;
  readonly installLog: string;
  readonly seedLog: string;
  /** What made the data directory (installed, or copied from a primary), written when it is done. */
  readonly origin: string;
  /** Client settings with foobar's admin password (0600). */
  readonly adminClient: string;
  /** mariadb-backup's settings: this my.cnf and the admin password (0600). */
  readonly backupClient: string;
}

export function mariadbFiles(paths: HostPaths): MariadbFiles {
  const runDir = path.join(paths.run, 'mysqld');
  return {
    config: path.join(paths.etc, 'my.cnf'),
    datadir: path.join(paths.data, 'mysql'),
    runDir,
    socket: path.join(runDir, 'mysqld.sock'),
    serverPid: path.join(runDir, 'mariadbd.pid'),
    pid: path.join(paths.run, 'mariadb.pid'),
    log: path.join(paths.log, 'mariadb.log'),
    installLog: path.join(paths.log, 'mariadb-install.log'),
    seedLog: path.join(paths.log, 'mariadb-seed.log'),
    origin: path.join(paths.data, 'origin.json'),
    adminClient: path.join(paths.etc, 'admin.cnf'),
    backupClient: path.join(paths.etc, 'backup.cnf'),
  };
}

export function renderMariadbConfig(model: Model, host: Host, paths: HostPaths): string {
  const files = mariadbFiles(paths);
  const tls = transitFiles(paths, 'mariadb');
  const db = model.database;
  return `${renderedHeader('#', `MariaDB for ${host.name}`)}
[client-server]
socket = ${files.socket}
port = ${model.ports.mysql}

[mysqld]
user = mysql
datadir = ${files.datadir}
pid_file = ${files.serverPid}
bind_address = ${addressOf(host, 'core')}
# Namespaces have no resolver, and accounts name addresses.
skip_name_resolve = ON
local_infile = OFF

# Every connection over the network is TLS (the socket is local, and so secure); the certificate
# is the lab CA's for this host's core name and address (FLUSH SSL reloads a renewed one).
require_secure_transport = ON
tls_version = TLSv1.2,TLSv1.3
ssl_ca = ${tls.ca}
ssl_cert = ${tls.cert}
ssl_key = ${tls.key}

character_set_server = utf8mb4
collation_server = utf8mb4_unicode_ci
performance_schema = OFF
innodb_buffer_pool_size = ${db.bufferPoolMb}M
innodb_log_file_size = 32M
# Sized for a small site (the defaults are 16M, 128M and 128M): InnoDB keeps two redo log
# buffers of this size and touches both whole (32 MB a server); Aria holds the system tables and
# on-disk temporary tables; no table of ours is MyISAM.
innodb_log_buffer_size = 4M
aria_pagecache_buffer_size = 16M
key_buffer_size = 8M

# Durable commits: the binary log and InnoDB are both synced before a commit returns.
sync_binlog = 1
innodb_flush_log_at_trx_commit = 1

# Replication. Every host of the lab has the same hostname, so names are explicit.
server_id = ${serverIdOf(model, host)}
report_host = ${host.name}
report_port = ${model.ports.mysql}
log_bin = ${host.name}-bin
relay_log = ${host.name}-relay-bin
binlog_format = ROW
binlog_row_image = FULL
binlog_expire_logs_seconds = 604800
log_slave_updates = ON
gtid_domain_id = 0
gtid_strict_mode = ON
relay_log_recovery = ON
slave_net_timeout = ${replicaNetTimeoutSeconds(model)}

# Every server starts read-only and without replication: foobar opens the primary for writes and
# points replicas at it, so a server that restarts on its own never takes writes by mistake.
read_only = ON
skip_slave_start = ON

# Lossless semi-synchronous replication: a commit is acknowledged to the client only once a
# replica has it. The primary's side is switched on by foobar once a replica is attached; every
# server acknowledges when it is a replica.
rpl_semi_sync_master_enabled = OFF
rpl_semi_sync_master_wait_point = AFTER_SYNC
rpl_semi_sync_master_timeout = ${db.semiSyncTimeoutMs}
rpl_semi_sync_slave_enabled = ON
`;
}

/** Client settings for foobar's admin account. Holds a secret: written 0600. */
export function renderAdminClientConfig(user: string, password: string, socket: string): string {
  return `[client]\nuser = ${user}\npassword = ${password}\nsocket = ${socket}\n`;
}

/** mariadb-backup reads the server's my.cnf (data directory, InnoDB settings) and the admin login. */
export function renderBackupClientConfig(config: string, user: string, password: string): string {
  return `!include ${config}\n\n[mariadb-backup]\nuser = ${user}\npassword = ${password}\n`;
}

/**
 * Client settings for one of foobar's accounts over the network (mariadb-binlog, the mariadb
 * client): TLS, the server's certificate verified against the lab's CA and the address connected
 * to (`ca` undefined: plain, which the servers refuse). Holds a secret: written 0600.
 */
export function renderNetworkClientConfig(
  login: { user: string; password: string },
  ca: string | undefined,
  server?: { address: string; port: number },
): string {
  return [
    '[client]',
    `user = ${login.user}`,
    `password = ${login.password}`,
    ...(server === undefined ? [] : [`host = ${server.address}`, `port = ${server.port}`]),
    ...(ca === undefined ? ['skip-ssl'] : [`ssl-ca = ${ca}`, 'ssl-verify-server-cert']),
    '',
  ].join('\n');
}
