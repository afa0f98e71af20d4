/**
 * A real OpenSSH server for tests, on 127.0.0.1 and a free high port, with its own host key and a
 * client key made for it in a temporary directory. Nothing of this machine's ssh service is used
 * or started; `stop()` ends the server by its PID and removes everything it made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep, waitFor } from '../lib/wait.ts';
import { freePort } from '../lib/free-port-testing.ts';
import type { SshDestination } from '../model/model.ts';
import { runProcess } from './process.ts';

export const SSHD = '/usr/sbin/sshd';
/** sshd (as root) refuses to start without its privilege separation directory. */
const PRIVSEP_DIR = '/run/sshd';
const START_TIMEOUT_MS = 10_000;

export interface TestSshd {
  /** Holds the keys, the configs and the remote user's HOME. */
  readonly dir: string;
  readonly destination: SshDestination;
  /** An ssh_config that logs in with the generated client key only (no agent). */
  readonly clientConfig: string;
  /** The server's public host key, as a known_hosts line would hold it ("ssh-ed25519 AAAA..."). */
  readonly hostKey: string;
  /** A key pair the server does not have, for a "changed host key". */
  otherHostKey(): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestSshd(): Promise<TestSshd> {
  if (!existsSync(SSHD)) {
    throw new Error(`${SSHD} is missing: install openssh-server (scripts/bootstrap.sh does)`);
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-sshd-'));
  const madePrivsepDir = !existsSync(PRIVSEP_DIR);
  let child: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      process.kill(child.pid, 'SIGTERM');
      await Promise.race([exited, sleep(5000)]);
    }
    await fs.rm(dir, { recursive: true, force: true });
    if (madePrivsepDir) await fs.rm(PRIVSEP_DIR, { recursive: true, force: true });
  };
  try {
    const keygen = async (name: string): Promise<string> => {
      const file = path.join(dir, name);
      await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
      return (await fs.readFile(`${file}.pub`, 'utf8')).trim();
    };
    const hostKey = await keygen('host_key');
    await fs.writeFile(path.join(dir, 'authorized_keys'), `${await keygen('client_key')}\n`);
    await fs.mkdir(path.join(dir, 'home'));
    const port = await freePort();
    const user = os.userInfo().username;
    const serverConfig = path.join(dir, 'sshd_config');
    await fs.writeFile(
      serverConfig,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${path.join(dir, 'host_key')}`,
        'PidFile none',
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        // The temporary directory sits in /tmp (world-writable), which StrictModes refuses.
        'StrictModes no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'PermitRootLogin prohibit-password',
        `AllowUsers ${user}`,
        // Debian's bash reads ~/.bashrc for commands over SSH: this machine's root has a slow one
        // (pyenv), which would be timed instead of the transport.
        `SetEnv HOME=${path.join(dir, 'home')}`,
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    const clientConfig = path.join(dir, 'ssh_config');
    await fs.writeFile(
      clientConfig,
      [
        'Host *',
        `  IdentityFile ${path.join(dir, 'client_key')}`,
        '  IdentitiesOnly yes',
        '  IdentityAgent none',
        '',
      ].join('\n'),
    );
    if (madePrivsepDir) await fs.mkdir(PRIVSEP_DIR, { mode: 0o755 });
    const server = spawn(SSHD, ['-D', '-f', serverConfig, '-e'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = server;
    let output = '';
    server.once('error', (error) => (output += error.message));
    server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    await waitFor(
      `sshd on port ${port}`,
      async () => {
        if (server.exitCode !== null)
          throw new Error(`sshd exited (${server.exitCode}): ${output}`);
        return (await connects(port)) ? undefined : 'not listening yet';
      },
      { timeoutMs: START_TIMEOUT_MS },
    );
    return {
      dir,
      destination: { host: '127.0.0.1', port, user },
      clientConfig,
      hostKey,
      otherHostKey: () => keygen(`other_key_${Date.now()}`),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function run(argv: string[]): Promise<void> {
  const result = await runProcess(argv);
  if (result.exitCode !== 0) throw new Error(`${argv.join(' ')} failed: ${result.stderr}`);
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}
