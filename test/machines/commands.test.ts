import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { machineCommands, ssh } from './commands.ts';

const access = { identity: '/state/id_ed25519', knownHosts: '/state/known_hosts' };

describe('machine commands', () => {
  it('quote a remote command once, for the remote shell', () => {
    const command = ssh(access, '10.90.0.11', ['sh', '-c', "echo 'a b' $HOME"]);
    assert.deepEqual(command.argv.slice(-3), [
      'root@10.90.0.11',
      '--',
      `sh -c 'echo '\\''a b'\\'' $HOME'`,
    ]);
    assert.ok(command.argv.includes('StrictHostKeyChecking=yes'), 'host keys are pinned');
    assert.ok(command.argv.includes('UserKnownHostsFile=/state/known_hosts'));
  });

  it('give the supervisor its values as arguments, never inside its script', () => {
    const argv = machineCommands.supervise(
      '/state/m 1/root',
      { name: 'm1', address: '10.90.0.11' },
      'fbm0',
      'fbm0e',
      ['/sys/fs/cgroup/systemd/g/m1/cgroup.procs'],
    ).argv;
    assert.equal(argv[0], 'bash');
    assert.doesNotMatch(argv[2] ?? '', /m 1|fbm0|m1/);
    assert.deepEqual(argv.slice(3), [
      'foobar-machine-m1',
      '/state/m 1/root',
      'fbm0-m1',
      'fbm0',
      'fbm0e',
      'fbm0-11',
      'fbm0e-11',
      '/sys/fs/cgroup/systemd/g/m1/cgroup.procs',
    ]);
    assert.match(argv[2] ?? '', /"\$rc" -eq 133/, 'a guest reboot (exit 133) relaunches it');
  });
});
