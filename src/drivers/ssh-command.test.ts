import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quoteArgv } from './quote.ts';
import { remoteCommand, shArgv, sshArgv, WRITE_FILE } from './ssh-command.ts';
import { buildModel } from '../model/build.ts';
import { environmentFile, sshDriverFor } from './ssh.ts';

const settings = { knownHostsFile: '/var/lib/foobar/x/ssh/known_hosts', controlDir: '/tmp/c' };

describe('ssh command lines', () => {
  it('pins keys under the host name, reuses a master, never prompts', () => {
    assert.deepEqual(sshArgv(settings, 'lb-01', { host: '203.0.113.11', user: 'root', port: 22 }), [
      'ssh',
      '-l',
      'root',
      '-p',
      '22',
      '-o',
      'BatchMode=yes',
      '-o',
      'UserKnownHostsFile=/var/lib/foobar/x/ssh/known_hosts',
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'StrictHostKeyChecking=accept-new',
      '-o',
      'HostKeyAlias=lb-01',
      '-o',
      'HashKnownHosts=no',
      '-o',
      'UpdateHostKeys=no',
      '-o',
      'CheckHostIP=no',
      '-o',
      'ControlMaster=auto',
      '-o',
      'ControlPath=/tmp/c/lb-01',
      '-o',
      'ControlPersist=120',
      '-o',
      'ConnectTimeout=10',
      '-o',
      'ServerAliveInterval=5',
      '-o',
      'ServerAliveCountMax=3',
      '-o',
      'LogLevel=ERROR',
      '--',
      '203.0.113.11',
    ]);
  });

  it('leaves user, port and config to the SSH config unless given', () => {
    const argv = sshArgv({ ...settings, configFile: '/etc/foobar/ssh_config' }, 'web-01', {
      host: 'web-01.example.net',
    });
    assert.deepEqual(argv.slice(0, 3), ['ssh', '-F', '/etc/foobar/ssh_config']);
    assert.equal(argv.includes('-l'), false);
    assert.equal(argv.includes('-p'), false);
    assert.deepEqual(argv.slice(-3), ['-o', 'LogLevel=ERROR', '--', 'web-01.example.net'].slice(1));
  });

  it('quotes the argv once for the remote shell, under a timeout there', () => {
    assert.equal(remoteCommand(['echo', "it's", '$HOME']), `echo 'it'\\''s' '$HOME'`);
    assert.equal(
      remoteCommand(['nginx', '-t', '-c', '/a b/nginx.conf'], 1500),
      "timeout -k 2 1.500 nginx -t -c '/a b/nginx.conf'",
    );
  });

  it('passes paths to its scripts as arguments and content never', () => {
    const argv = shArgv(WRITE_FILE, '/etc/x y.conf', '0600', '6');
    assert.deepEqual(argv.slice(0, 2), ['sh', '-c']);
    assert.deepEqual(argv.slice(3), ['sh', '/etc/x y.conf', '0600', '6']);
    // The script is a constant: the one string the remote shell gets holds it quoted once.
    assert.equal(remoteCommand(argv), quoteArgv(argv));
  });

  it('writes an environment both systemd and sh read', () => {
    assert.equal(environmentFile({ A: 'plain', B: "it's $x" }), "A=plain\nB='it'\\''s $x'\n");
    assert.throws(() => environmentFile({ 'A B': 'x' }), /not an environment variable name: A B/);
  });

  it('is the driver of a model on machines, pinning keys in its state directory', () => {
    const machines = buildModel({
      platform: 'machines',
      machines: {
        name: 'prod',
        stateDir: '/srv/foobar',
        resolvers: [],
        timeServers: [],
        mirrors: [],
      },
      networks: { edge: { subnet: '203.0.113.0/24' }, core: { subnet: '10.0.0.0/24' } },
      admin: { edge: '198.51.100.7', core: '10.0.0.5' },
      hosts: {
        lb: {
          roles: ['lb'],
          ssh: { host: '203.0.113.11' },
          edge: '203.0.113.11',
          core: '10.0.0.11',
        },
        web: { roles: ['web'], ssh: { host: '10.0.0.21' }, core: '10.0.0.21' },
        db: { roles: ['db'], ssh: { host: '10.0.0.31' }, core: '10.0.0.31' },
      },
      vrrp: { virtualAddresses: { lb: '203.0.113.10' } },
    });
    assert.equal(sshDriverFor(machines).knownHostsFile, '/srv/foobar/ssh/known_hosts');
    assert.throws(() => sshDriverFor(buildModel(undefined)), /the lab platform does not use SSH/);
  });
});
