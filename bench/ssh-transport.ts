/**
 * `npx node bench/ssh-transport.ts [N]` (as root): per-command latency and the whole machine's CPU
 * per command over one reused connection to a throwaway sshd on 127.0.0.1 — the SSH driver
 * (OpenSSH, a master connection per host, every command through its executor session), the same
 * driver with a session per command (as before the executor), and the npm `ssh2` library (a
 * channel per command on one connection), with a local spawn of `true` as the floor. ssh2 is no
 * dependency of foobar: `npm install --no-save ssh2@1.17.0` first to compare (docs/decisions.md
 * has the figures this gave).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SshDestination } from '../src/model/model.ts';
import { SshDriver } from '../src/drivers/ssh.ts';
import { startTestSshd } from '../src/drivers/sshd-testing.ts';

/** The part of ssh2's client this bench uses. */
interface Ssh2Client {
  on(event: 'ready', listener: () => void): Ssh2Client;
  on(event: 'error', listener: (error: Error) => void): Ssh2Client;
  connect(options: { host: string; port: number; username: string; privateKey: Buffer }): void;
  exec(command: string, callback: (error: Error | undefined, stream: Ssh2Stream) => void): void;
  end(): void;
}
interface Ssh2Stream {
  on(event: 'close', listener: (code: number) => void): Ssh2Stream;
  resume(): void;
  readonly stderr: { resume(): void };
}

const N = Number(process.argv[2] ?? 100);

/** The whole machine's busy time so far, in ms (user, nice, system, irq, softirq of /proc/stat). */
function machineCpuMs(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1);
  const ticks = [0, 1, 2, 5, 6].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
  return (ticks * 1000) / 100;
}

async function timed(name: string, once: () => Promise<void>): Promise<void> {
  const ms: number[] = [];
  const cpuBefore = machineCpuMs();
  for (let i = 0; i < N; i++) {
    const start = performance.now();
    await once();
    ms.push(performance.now() - start);
  }
  const cpu = (machineCpuMs() - cpuBefore) / N;
  ms.sort((a, b) => a - b);
  const at = (q: number): string => (ms[Math.floor(q * (ms.length - 1))] ?? NaN).toFixed(1);
  process.stdout.write(
    `${name.padEnd(36)} n=${N} p50=${at(0.5)} p90=${at(0.9)} p99=${at(0.99)} ms; machine CPU ${cpu.toFixed(1)} ms a command\n`,
  );
}

function localTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('true', { stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', () => {
      resolve();
    });
  });
}

async function ssh2Client(to: SshDestination, key: Buffer): Promise<Ssh2Client | undefined> {
  const name = 'ssh2';
  let module: unknown;
  try {
    module = await import(name);
  } catch {
    process.stdout.write('ssh2 is not installed: npm install --no-save ssh2@1.17.0 to compare\n');
    return undefined;
  }
  const { Client } = module as { Client: new () => Ssh2Client };
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client
      .on('ready', resolve)
      .on('error', reject)
      .connect({
        host: to.host,
        port: to.port ?? 22,
        username: to.user ?? 'root',
        privateKey: key,
      });
  });
  return client;
}

function ssh2True(client: Ssh2Client): Promise<void> {
  return new Promise((resolve, reject) => {
    client.exec('true', (error, stream) => {
      if (error !== undefined) {
        reject(error);
        return;
      }
      stream.on('close', (code) => {
        if (code === 0) resolve();
        else reject(new Error(`exit ${code}`));
      });
      stream.resume();
      stream.stderr.resume();
    });
  });
}

const sshd = await startTestSshd();
const state = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-bench-ssh-'));
const driver = new SshDriver({
  destinations: { bench: sshd.destination },
  stateDir: state,
  configFile: sshd.clientConfig,
});
const perCommand = new SshDriver({
  destinations: { bench: sshd.destination },
  stateDir: state,
  configFile: sshd.clientConfig,
  sessionPerCommand: true,
});
try {
  process.stdout.write(`load average ${os.loadavg()[0]?.toFixed(1)}\n`);
  await driver.exec('bench', { argv: ['true'] });
  await perCommand.exec('bench', { argv: ['true'] });
  const client = await ssh2Client(
    sshd.destination,
    readFileSync(path.join(sshd.dir, 'client_key')),
  );
  for (let round = 1; round <= 2; round++) {
    await timed('local spawn of true (floor)', localTrue);
    await timed('SshDriver (executor session)', async () => {
      await driver.exec('bench', { argv: ['true'] });
    });
    await timed('SshDriver, a session per command', async () => {
      await perCommand.exec('bench', { argv: ['true'] });
    });
    if (client !== undefined) await timed('ssh2, one connection', () => ssh2True(client));
  }
  client?.end();
} finally {
  await driver.close();
  await perCommand.close();
  await sshd.stop();
  await fs.rm(state, { recursive: true, force: true });
}
