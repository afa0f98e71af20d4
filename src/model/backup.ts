/**
 * The backup host: where its agent keeps full backups, archived binary logs and what it knows,
 * and the secret that encrypts them. In the lab the backup host's directories live under the
 * lab's state directory like every host's.
 */
import path from 'node:path';
import { hostPaths } from './layout.ts';
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
  /** What the agent last saw: newest backup, how recent the archive is (RPO). */
  readonly status: string;
  /** Scratch space of a restore: the unpacked backup, a scratch server's data and socket. */
  readonly restore: string;
  readonly log: string;
  readonly pid: string;
}

export function backupHost(model: Model): Host | undefined {
  return hostsWithRole(model, 'backup')[0];
}

export function backupPaths(model: Model, host: string): BackupPaths {
  const paths = hostPaths(model, host);
  return {
    config: path.join(paths.etc, 'backup-agent.json'),
    key: path.join(paths.etc, 'backup.key'),
    full: path.join(paths.data, 'full'),
    binlogs: path.join(paths.data, 'binlogs'),
    spool: path.join(paths.data, 'spool'),
    status: path.join(paths.data, 'status.json'),
    restore: path.join(paths.data, 'restore'),
    log: path.join(paths.log, 'backup-agent.log'),
    pid: path.join(paths.run, 'backup-agent.pid'),
  };
}
