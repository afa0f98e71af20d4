import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifySshFailure, HostKeyChangedError, SshConnectError } from './ssh-errors.ts';

/** What OpenSSH 9.2 prints when the pinned key differs (trimmed). */
const CHANGED = `@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
The fingerprint for the ED25519 key sent by the remote host is
SHA256:q3TqC0pIWmz0x8+Z1ZyGv2d0fOQ5uJk3B0c0Xx1yzAb.
Please contact your system administrator.
Host key verification failed.
`;

describe('ssh failures', () => {
  it("tells ssh's own failures from the remote command's exit 255", () => {
    assert.equal(classifySshFailure(255, CHANGED), 'host-key-changed');
    assert.equal(
      classifySshFailure(255, 'ssh: connect to host 10.0.0.21 port 22: Connection refused\n'),
      'cannot-connect',
    );
    assert.equal(
      classifySshFailure(255, 'root@10.0.0.21: Permission denied (publickey).\n'),
      'cannot-connect',
    );
    assert.equal(classifySshFailure(255, 'my own error\n'), undefined);
    assert.equal(classifySshFailure(1, CHANGED), undefined);
  });

  it('refuses a changed key with the fingerprint and what to do', () => {
    const error = new HostKeyChangedError(
      'db-01',
      { host: '10.0.0.31', user: 'root', port: 22 },
      '/var/lib/foobar/machines/prod/ssh/known_hosts',
      CHANGED,
    );
    assert.equal(
      error.message,
      'db-01: refused to connect to root@10.0.0.31 port 22: its SSH host key is not the one foobar ' +
        'pinned on first contact (in /var/lib/foobar/machines/prod/ssh/known_hosts); it now shows ' +
        'SHA256:q3TqC0pIWmz0x8+Z1ZyGv2d0fOQ5uJk3B0c0Xx1yzAb. If db-01 was reinstalled or its key was ' +
        'replaced, compare that fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on ' +
        'its console, then forget the old key with `ssh-keygen -R db-01 -f ' +
        '/var/lib/foobar/machines/prod/ssh/known_hosts` and run foobar again. Otherwise something may ' +
        'be impersonating db-01: do not go on.',
    );
  });

  it('names the machine it cannot reach and how to check', () => {
    assert.equal(
      new SshConnectError(
        'web-01',
        { host: 'web-01.example.net' },
        'Permission denied (publickey).\n',
      ).message,
      'web-01: cannot reach web-01.example.net over SSH: Permission denied (publickey). The machine ' +
        'refused the login: add your public key to its authorized_keys, or load the right key in your ' +
        'SSH agent or ~/.ssh/config; `ssh web-01.example.net true` must work without a password.',
    );
  });
});
