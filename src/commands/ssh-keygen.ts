/** OpenSSH's key tool: the failover managers' key pair on machines (steps/failover-access.ts). */
import type { Command } from '../drivers/driver.ts';

export const sshKeygen = {
  /** A new ed25519 key pair without a passphrase: FILE (private) and FILE.pub. */
  generate: (file: string, comment: string): Command => ({
    argv: ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file],
  }),
  /** The public half of a private key file, as one authorized_keys line without a comment. */
  publicOf: (file: string): Command => ({ argv: ['ssh-keygen', '-y', '-f', file] }),
};
