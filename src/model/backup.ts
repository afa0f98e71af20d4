/**
 * The backup host: where its agent keeps full backups, archived binary logs and what it knows,
 * and the secret that encrypts them. In the lab the backup host's directories live under the
 * lab's state directory like every host's.
 */
import path from 'node:path';
import { hostPaths, sharedState } from './layout.ts';
import { hostsWithRole, type Host, type Model } from './model.ts';

/** The key that encrypts backups at rest: on the backup host and this machine, never a database host. */
export const BACKUP_KEY_SECRET = 'backup-key';

export interface BackupPaths {
  /** The agent's config (its host and the model), as the failover managers have. */
  readonly config: string;
  /** The key, 0600, 64 hex digits. */
  readonly key: string;
  /** Full backups: `<id>.mbstream.zst.aes`, its `.sha256` and its manifest `<id>.json`. */
  readonly full: string;
  /** Closed binary logs, per server they came from: `<server>/<file>.zst.aes` and `<file>.json`. */
  readonly binlogs: string;
  /** Binary logs as mariadb-binlog writes them, per server, until they are closed and sealed. */
  readonly spool: string;
  /**
   * What the agent last saw: newest backup, how recent the archive is (RPO). In a directory of
   * its own: on machines the agent's unit may write these four directories and nothing else of
   * /var/lib/foobar (the lock, database.json, etcd's and the managers' files may be there).
   */
  readonly status: string;
  /** Scratch space of a restore: the unpacked backup, a scratch server's data and socket. */
  readonly restore: string;
  readonly log: string;
  readonly pid: string;
}

export function backupHost(model: Model): Host | undefined {
  return hostsWithRole(model, 'backup')[0];
}

/**
 * On machines, what the backup agent acts on over SSH (with a key pair of its own, from the
 * backup host's core address): the database servers (a full backup is started on a replica) and
 * the host that keeps database.json (who is the primary), nothing else.
 */
export function backupTargets(model: Model): Host[] {
  const shared = sharedState(model).host;
  return model.hosts.filter((host) => host.roles.includes('db') || host.name === shared);
}

/** The backup host, the one that holds the agent's key (none without a backup role). */
export function backupHolders(model: Model): Host[] {
  const host = backupHost(model);
  return host === undefined ? [] : [host];
}

/**
 * On machines, the agent's own state directory: it stands for the operator's in the agent's
 * model, holding its SSH key, the pinned host keys of the hosts it acts on and the backup
 * account's password, and nothing else.
 */
export const BACKUP_AGENT_STATE_DIR = '/var/lib/foobar/backup-agent';
/** The agent's SSH key (private, OpenSSH format): a secret of the operator's state directory. */
export const BACKUP_SSH_KEY_SECRET = 'backup-ssh-key';
/** Marks the agent's line in a host's authorized_keys. */
export const BACKUP_SSH_COMMENT = 'foobar-backup-agent';

/** What the agent itself writes: its archive and its status (`db restore` runs outside it). */
export function backupWrites(paths: BackupPaths): string[] {
  return [paths.full, paths.binlogs, paths.spool, path.dirname(paths.status)];
}

export function backupPaths(model: Model, host: string): BackupPaths {
  const paths = hostPaths(model, host);
  return {
    config: path.join(paths.etc, 'backup-agent.json'),
    key: path.join(paths.etc, 'backup.key'),
    full: path.join(paths.data, 'full'),
    binlogs: path.join(paths.data, 'binlogs'),
    spool: path.join(paths.data, 'spool'),
    status: path.join(paths.data, 'backup-status', 'status.json'),
    restore: path.join(paths.data, 'restore'),
    log: path.join(paths.log, 'backup-agent.log'),
    pid: path.join(paths.run, 'backup-agent.pid'),
  };
}
