/**
 * What an `ssh` that failed before running anything means, told so that the operator knows what
 * to do. ssh exits 255 for its own errors (the remote command's 255 looks the same, so its stderr
 * decides).
 */
import type { SshDestination } from '../model/model.ts';

export const SSH_ERROR_EXIT = 255;

/** The pinned key and the one the machine showed differ: never connect, say how to resolve it. */
export class HostKeyChangedError extends Error {
  readonly host: string;
  readonly knownHostsFile: string;
  readonly fingerprint: string | undefined;
  constructor(host: string, to: SshDestination, knownHostsFile: string, stderr: string) {
    const fingerprint = /SHA256:[A-Za-z0-9+/=]+/.exec(stderr)?.[0];
    super(
      `${host}: refused to connect to ${describeDestination(to)}: its SSH host key is not the one ` +
        `foobar pinned on first contact (in ${knownHostsFile})` +
        (fingerprint === undefined ? '. ' : `; it now shows ${fingerprint}. `) +
        `If ${host} was reinstalled or its key was replaced, compare that fingerprint with ` +
        `\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on its console, then forget the old key ` +
        `with \`ssh-keygen -R ${host} -f ${knownHostsFile}\` and run foobar again. ` +
        `Otherwise something may be impersonating ${host}: do not go on.`,
    );
    this.name = 'HostKeyChangedError';
    this.host = host;
    this.knownHostsFile = knownHostsFile;
    this.fingerprint = fingerprint;
  }
}

/** ssh could not connect or log in: the machine is down, unreachable, or refuses the key. */
export class SshConnectError extends Error {
  readonly host: string;
  constructor(host: string, to: SshDestination, stderr: string) {
    const reason = lastLines(stderr).replace(/\.$/, '');
    super(
      `${host}: cannot reach ${describeDestination(to)} over SSH${reason === '' ? '' : `: ${reason}`}. ` +
        connectHint(stderr, to),
    );
    this.name = 'SshConnectError';
    this.host = host;
  }
}

export type SshFailure = 'host-key-changed' | 'cannot-connect' | undefined;

/** Why an ssh exited 255, when it was ssh's doing and not the remote command's. */
export function classifySshFailure(exitCode: number, stderr: string): SshFailure {
  if (exitCode !== SSH_ERROR_EXIT) return undefined;
  if (
    /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|host key for .* has changed/i.test(
      stderr,
    )
  )
    return 'host-key-changed';
  if (
    /^(ssh: |kex_exchange_identification|Connection (closed|reset|timed out)|banner exchange|ssh_exchange_identification|mux_client|Control socket)|Permission denied \(|Received disconnect/m.test(
      stderr,
    )
  )
    return 'cannot-connect';
  return undefined;
}

/** "root@203.0.113.11 port 22", leaving out what the SSH config decides. */
export function describeDestination(to: SshDestination): string {
  const who = to.user === undefined ? to.host : `${to.user}@${to.host}`;
  return to.port === undefined ? who : `${who} port ${to.port}`;
}

function connectHint(stderr: string, to: SshDestination): string {
  const command = `ssh ${to.port === undefined ? '' : `-p ${to.port} `}${to.user === undefined ? '' : `${to.user}@`}${to.host} true`;
  if (stderr.includes('Permission denied')) {
    return `The machine refused the login: add your public key to its authorized_keys, or load the right key in your SSH agent or ~/.ssh/config; \`${command}\` must work without a password.`;
  }
  return `Check that the machine is up and that \`${command}\` works from this machine (keys, agent and jump hosts come from your SSH config).`;
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' ').trim();
}
