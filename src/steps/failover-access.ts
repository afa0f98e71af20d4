/**
 * On machines the failover managers act on other hosts over SSH (steps/ssh-access.ts): their key
 * on the failover members only, authorized for root on the hosts a manager acts on from the
 * members' core addresses only, with every database password the site has and the CA's
 * certificate (promote checks the web servers over TLS).
 */
import { DB_USERS, type DbUser } from '../model/database.ts';
import {
  failoverMembers,
  managedHosts,
  MANAGER_SSH_COMMENT,
  MANAGER_SSH_KEY_SECRET,
  MANAGER_STATE_DIR,
} from '../model/failover.ts';
import type { Context } from './context.ts';
import {
  ensureAccess,
  refreshAccessSecrets,
  revokeAccess,
  sshFiles,
  type SshAccess,
} from './ssh-access.ts';

export const MANAGERS_ACCESS: SshAccess = {
  who: 'the failover managers',
  holdersNoun: 'members',
  holders: failoverMembers,
  targets: managedHosts,
  keySecret: MANAGER_SSH_KEY_SECRET,
  comment: MANAGER_SSH_COMMENT,
  stateDir: MANAGER_STATE_DIR,
  dbUsers: Object.keys(DB_USERS) as DbUser[],
  ca: true,
};

/** The managers' files on a member: their SSH client's, under their own state directory. */
export function managerSshFiles(): { key: string; config: string; knownHosts: string } {
  return sshFiles(MANAGERS_ACCESS);
}

export function ensureManagerAccess(ctx: Context): Promise<string> {
  return ensureAccess(ctx, MANAGERS_ACCESS);
}

export function refreshManagerSecrets(ctx: Context): Promise<string | undefined> {
  return refreshAccessSecrets(ctx, MANAGERS_ACCESS);
}

export function revokeManagerAccess(ctx: Context): Promise<string> {
  return revokeAccess(ctx, MANAGERS_ACCESS);
}
