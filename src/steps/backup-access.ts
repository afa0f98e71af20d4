/**
 * On machines the backup agent reads database.json on the host that keeps it and starts a full
 * backup on a replica over SSH (steps/ssh-access.ts): its key on the backup host only,
 * authorized for root on the database servers and that host only, from the backup host's core
 * address only, with the backup account's password and nothing else.
 */
import {
  BACKUP_AGENT_STATE_DIR,
  BACKUP_SSH_COMMENT,
  BACKUP_SSH_KEY_SECRET,
  backupHolders,
  backupTargets,
} from '../model/backup.ts';
import type { SshAccess } from './ssh-access.ts';

export const BACKUP_AGENT_ACCESS: SshAccess = {
  who: 'the backup agent',
  holdersNoun: 'backup hosts',
  holders: backupHolders,
  targets: backupTargets,
  keySecret: BACKUP_SSH_KEY_SECRET,
  comment: BACKUP_SSH_COMMENT,
  stateDir: BACKUP_AGENT_STATE_DIR,
  dbUsers: ['backup'],
  ca: false,
};
