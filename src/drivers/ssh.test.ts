/**
 * The SSH driver against a real sshd on 127.0.0.1 (src/drivers/sshd-testing.ts): every Driver
 * method, connection reuse, parallel hosts, timeouts, key pinning and the refusal of a changed key.
 * Three "machines" of the model point at the one server; each has its own master connection and
 * its own pinned key (HostKeyAlias).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../lib/wait.ts';
import { CommandFailedError, PipeFailedError } from './driver.ts';
import { SshDriver } from './ssh.ts';
import { HostKeyChangedError, SshConnectError } from './ssh-errors.ts';
import { startTestSshd, type TestSshd } from './sshd-testing.ts';

const HOSTS = ['test-a', 'test-b'];

describe('SshDriver against a real sshd', () => {
  let sshd: TestSshd;
  let driver: SshDriver;
  let local: string;
  let remote: string;

  before(async () => {
    sshd = await startTestSshd();
    local = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-ssh-local-'));
    remote = path.join(sshd.dir, 'remote');
    driver = new SshDriver({
      destinations: {
        ...Object.fromEntries(HOSTS.map((host) => [host, sshd.destination])),
        'test-c': sshd.destination,
        closed: { ...sshd.destination, port: 1 },
      },
      stateDir: path.join(local, 'state'),
      configFile: sshd.clientConfig,
    });
  });

  after(async () => {
    await driver.close();
    await sshd.stop();
    await fs.rm(local, { recursive: true, force: true });
  });

  it('pins the host key on first contact and reuses one connection per host', async (t) => {
    const first = performance.now();
    const where = await driver.exec('test-a', { argv: ['sh', '-c', 'echo "$SSH_CONNECTION"'] });
    t.diagnostic(`first command (connect + log in): ${(performance.now() - first).toFixed(0)} ms`);
    const pinned = await fs.readFile(driver.knownHostsFile, 'utf8');
    assert.equal(pinned, `test-a ${sshd.hostKey.split(' ').slice(0, 2).join(' ')}\n`);
    const timings: number[] = [];
    for (let i = 0; i < 10; i++) {
      const start = performance.now();
      const again = await driver.exec('test-a', { argv: ['sh', '-c', 'echo "$SSH_CONNECTION"'] });
      timings.push(performance.now() - start);
      // The same client port: the same TCP connection.
      assert.equal(again.stdout, where.stdout);
    }
    timings.sort((a, b) => a - b);
    t.diagnostic(
      `per command over the reused connection: p50 ${timings[5]?.toFixed(1)} ms, max ${timings[9]?.toFixed(1)} ms`,
    );
  });

  it('passes argv through the remote shell exactly, quoted once', async () => {
    const args = [
      'a b',
      "it's",
      '"double"',
      '$HOME',
      '`id`',
      '$(id)',
      '*',
      '',
      'two\nlines',
      'back\\slash',
      '-n',
      '; rm -rf /',
      '|&<>',
      'ünïcödé',
      '~',
    ];
    const result = await driver.exec('test-a', { argv: ['printf', '%s\\0', ...args] });
    assert.deepEqual(result.stdout.split('\0').slice(0, -1), args);
  });

  it('gives the command its input on stdin', async () => {
    const secret = 'not on any command line\n';
    const result = await driver.exec('test-b', { argv: ['cat'], input: secret });
    assert.equal(result.stdout, secret);
  });

  it('names the host and the command when one fails, and returns the result unchecked', async () => {
    const argv = ['sh', '-c', 'echo oops >&2; exit 3'];
    await assert.rejects(
      driver.exec('test-a', { argv }),
      (error: unknown) =>
        error instanceof CommandFailedError &&
        error.message === "test-a: sh -c 'echo oops >&2; exit 3' failed (exit 3):\noops",
    );
    const result = await driver.exec('test-a', { argv }, { check: false });
    assert.equal(result.exitCode, 3);
  });

  it('ends a command on the host when it times out', async (t) => {
    // A duration of its own, to find this sleep among the host's processes.
    const seconds = `29.${process.pid}`;
    const start = performance.now();
    await assert.rejects(
      driver.exec('test-a', { argv: ['sleep', seconds], timeoutMs: 500 }),
      (error: unknown) =>
        error instanceof CommandFailedError &&
        error.exitCode === -1 &&
        error.message.startsWith(`test-a: sleep ${seconds} timed out`),
    );
    const elapsed = performance.now() - start;
    t.diagnostic(`a 500 ms timeout ended the command after ${elapsed.toFixed(0)} ms`);
    assert.ok(elapsed < 10_000, `took ${elapsed.toFixed(0)} ms`);
    // "[s]" keeps the pattern from matching the command line that carries it.
    const pattern = `[s]leep ${seconds.replace('.', '\\.')}`;
    const left = await driver.exec('test-a', { argv: ['pgrep', '-f', pattern] }, { check: false });
    assert.equal(left.stdout, '', 'the timed-out command still runs on the host');
  });

  it('runs commands on several hosts in parallel', async (t) => {
    // Each command tells when it started and ended on the host: all of them at once means that at
    // one moment every one had started and none had ended.
    const start = performance.now();
    const spans = await Promise.all(
      HOSTS.flatMap((host) =>
        Array.from({ length: 4 }, async () => {
          const argv = ['sh', '-c', 'date +%s.%N; sleep 3; date +%s.%N'];
          const { stdout } = await driver.exec(host, { argv });
          const [from = NaN, to = NaN] = stdout.trim().split('\n').map(Number);
          return { from, to };
        }),
      ),
    );
    const lastStart = Math.max(...spans.map((s) => s.from));
    const firstEnd = Math.min(...spans.map((s) => s.to));
    t.diagnostic(
      `8 × sleep 3 on 2 hosts: ${(performance.now() - start).toFixed(0)} ms; ` +
        `starts spread over ${((lastStart - Math.min(...spans.map((s) => s.from))) * 1000).toFixed(0)} ms`,
    );
    assert.ok(lastStart < firstEnd, 'some command ended before another had started');
  });

  it('writes files atomically with their mode, appends, reads, lists nothing else', async () => {
    const file = path.join(remote, 'etc', 'deep', 'secret.conf');
    const binary = new Uint8Array([0, 1, 2, 255, 10, 13]);
    await driver.writeFile('test-a', file, 'first\n', 0o600);
    await driver.writeFile('test-a', file, binary, 0o640);
    assert.deepEqual(new Uint8Array(await fs.readFile(file)), binary);
    assert.equal((await fs.stat(file)).mode & 0o7777, 0o640);
    assert.deepEqual(await fs.readdir(path.dirname(file)), ['secret.conf']);
    await driver.writeFile('test-a', file, 'text ü\n');
    assert.equal(await driver.readFile('test-a', file), 'text ü\n');
    assert.equal((await fs.stat(file)).mode & 0o7777, 0o644);

    const log = path.join(remote, 'log', 'audit.log');
    await driver.appendFile('test-a', log, 'one\n', 0o600);
    await Promise.all(
      ['two\n', 'three\n'].map((line) => driver.appendFile('test-b', log, line, 0o644)),
    );
    const lines = ((await driver.readFile('test-a', log)) ?? '').split('\n');
    assert.deepEqual(lines.slice(0, 1), ['one']);
    assert.deepEqual(lines.slice(1).sort(), ['', 'three', 'two']);
    assert.equal((await fs.stat(log)).mode & 0o7777, 0o600);

    assert.equal(await driver.readFile('test-a', path.join(remote, 'absent')), undefined);
    await assert.rejects(
      driver.readFile('test-a', remote),
      /^CommandFailedError: test-a: read .* failed \(exit 1\):\ncat: .*Is a directory$/,
    );
  });

  it('reads several files in one command, bytes intact, absent ones undefined', async () => {
    const dir = path.join(remote, 'many');
    await driver.mkdirs('test-a', [dir, path.join(dir, 'sub')], 0o750);
    assert.equal((await fs.stat(path.join(dir, 'sub'))).mode & 0o7777, 0o750);
    const texts = ['one\n', '', 'no newline', 'ü\n\n\n', 'x'.repeat(200_000)];
    const files = texts.map((_, i) => path.join(dir, `f${i}`));
    await Promise.all(files.map((file, i) => fs.writeFile(file, texts[i] ?? '')));
    const absent = path.join(dir, 'absent');
    assert.deepEqual(
      await driver.readFiles('test-a', [files[0] ?? '', absent, ...files.slice(1)]),
      [texts[0], undefined, ...texts.slice(1)],
    );
    assert.deepEqual(await driver.readFiles('test-a', []), []);
    await assert.rejects(
      driver.readFiles('test-a', [files[0] ?? '', dir]),
      /^CommandFailedError: test-a: read .* failed \(exit 1\):\ncannot read .*many$/,
    );
  });

  it('surveys in one command: directories made, files read, then a command, its output apart', async () => {
    const dir = path.join(remote, 'survey', 'etc');
    const file = path.join(remote, 'survey', 'a.conf');
    await driver.writeFile('test-b', file, 'first line\nno newline at the end');
    const surveyed = await driver.survey('test-b', {
      dirs: [dir, path.join(remote, 'survey', 'run')],
      files: [file, path.join(remote, 'survey', 'absent')],
      command: { argv: ['sh', '-c', 'printf "enabled\\nMainPID=7\\n"; echo err >&2'] },
    });
    assert.deepEqual(surveyed.contents, ['first line\nno newline at the end', undefined]);
    assert.equal(surveyed.result.stdout, 'enabled\nMainPID=7\n');
    assert.equal(surveyed.result.stderr, 'err\n');
    assert.equal((await fs.stat(dir)).mode & 0o7777, 0o755);
    // Nothing to make or read: the command alone.
    const alone = await driver.survey('test-b', {
      dirs: [],
      files: [],
      command: { argv: ['echo', 'hi'] },
    });
    assert.deepEqual(alone, { contents: [], result: { stdout: 'hi\n', stderr: '', exitCode: 0 } });
    await assert.rejects(
      driver.survey('test-b', { dirs: [], files: [file], command: { argv: ['false'] } }),
      (error: unknown) =>
        error instanceof CommandFailedError && error.message.includes('test-b: survey'),
    );
  });

  it('makes directories with their mode and removes trees', async () => {
    const dir = path.join(remote, 'a', 'b', 'private');
    await driver.mkdir('test-a', dir, 0o700);
    assert.equal((await fs.stat(dir)).mode & 0o7777, 0o700);
    await driver.mkdir('test-a', dir, 0o700);
    await driver.remove('test-a', path.join(remote, 'a'));
    assert.equal(existsSync(path.join(remote, 'a')), false);
    await driver.remove('test-a', path.join(remote, 'a'));
  });

  it('copies a file with its mode and a tree as a stream, replacing the old tree', async () => {
    const script = path.join(local, 'run.sh');
    await fs.writeFile(script, '#!/bin/sh\necho hi\n', { mode: 0o750 });
    const copied = path.join(remote, 'bin', 'run.sh');
    await driver.copyFile('test-a', script, copied);
    assert.equal(await fs.readFile(copied, 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal((await fs.stat(copied)).mode & 0o7777, 0o750);

    const tree = path.join(local, 'release');
    await fs.mkdir(path.join(tree, 'static', 'css'), { recursive: true });
    await fs.writeFile(path.join(tree, 'server.mjs'), 'export {};\n');
    await fs.writeFile(path.join(tree, 'static', 'css', 'app.css'), 'body {}\n', { mode: 0o600 });
    await fs.symlink('server.mjs', path.join(tree, 'main.mjs'));
    const to = path.join(remote, 'releases', 'r1');
    await driver.copyDir('test-a', tree, to);
    assert.equal(await fs.readFile(path.join(to, 'static', 'css', 'app.css'), 'utf8'), 'body {}\n');
    assert.equal((await fs.stat(path.join(to, 'static', 'css', 'app.css'))).mode & 0o777, 0o600);
    assert.equal(await fs.readlink(path.join(to, 'main.mjs')), 'server.mjs');

    await fs.rm(path.join(tree, 'static'), { recursive: true });
    await driver.copyDir('test-a', tree, to);
    assert.deepEqual((await fs.readdir(to)).sort(), ['main.mjs', 'server.mjs']);
    assert.deepEqual(await fs.readdir(path.dirname(to)), ['r1']);
  });

  it('pipes one host into another: a session to each, joined here, bytes intact and counted', async (t) => {
    const session = async (host: string): Promise<string> =>
      (await driver.exec(host, { argv: ['sh', '-c', 'echo "$SSH_CONNECTION"'] })).stdout.trim();
    const received = path.join(remote, 'piped');
    await fs.mkdir(remote, { recursive: true });
    const mb = 16;
    const progress: number[] = [];
    const started = performance.now();
    const result = await driver.pipe(
      {
        target: 'test-a',
        command: {
          argv: [
            'sh',
            '-c',
            `echo "$SSH_CONNECTION" >&2; { head -c ${mb}M /dev/urandom | tee /dev/fd/3 | sha256sum >&2; } 3>&1`,
          ],
        },
      },
      {
        target: 'test-b',
        command: { argv: ['sh', '-c', `echo "$SSH_CONNECTION" >&2; cat >${received}`] },
      },
      { onProgress: (bytes) => progress.push(bytes) },
    );
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(
      `${mb} MB through two SSH sessions in ${seconds.toFixed(2)} s (${(mb / seconds).toFixed(0)} MB/s)`,
    );
    assert.equal(result.bytes, mb * 1_048_576);
    assert.equal(progress.at(-1), result.bytes);
    const [fromSession, sentSum] = result.from.stderr.trim().split('\n');
    assert.equal(fromSession, await session('test-a'));
    assert.equal(result.to.stderr.trim(), await session('test-b'));
    const receivedSum = (await driver.exec('test-b', { argv: ['sha256sum', received] })).stdout;
    assert.equal(receivedSum.split(' ')[0], sentSum?.split(' ')[0]);
    await fs.rm(received);
  });

  it('a failed side of a pipe is said with its host and stderr, and the other ends on its host', async () => {
    // Neither command notices its session closing (no read, no write): only a kill ends it.
    const pidFile = (side: string): string => path.join(remote, `pipe-${side}.pid`);
    await fs.mkdir(remote, { recursive: true });
    const started = performance.now();
    await assert.rejects(
      driver.pipe(
        {
          target: 'test-a',
          command: { argv: ['sh', '-c', `echo $$ >${pidFile('a')}; exec sleep 60`] },
        },
        {
          target: 'test-b',
          command: { argv: ['sh', '-c', 'sleep 0.5; echo "mbstream: no space left" >&2; exit 2'] },
        },
      ),
      (error: unknown) =>
        error instanceof PipeFailedError &&
        error.message ===
          [
            'streaming from test-a to test-b failed after 0 B:',
            `test-b: sh -c 'sleep 0.5; echo "mbstream: no space left" >&2; exit 2' failed (exit 2):`,
            'mbstream: no space left',
            `test-a: sh -c 'echo $$ >${pidFile('a')}; exec sleep 60' was stopped: the other side had failed`,
          ].join('\n'),
    );
    await assert.rejects(
      driver.pipe(
        {
          target: 'test-a',
          command: { argv: ['sh', '-c', 'sleep 0.5; echo "backup failed" >&2; exit 1'] },
        },
        {
          target: 'test-b',
          command: { argv: ['sh', '-c', `echo $$ >${pidFile('b')}; exec sleep 60`] },
        },
      ),
      /^test-a: sh -c .* failed \(exit 1\):\nbackup failed\ntest-b: .* was stopped/m,
    );
    for (const side of ['a', 'b']) {
      const pid = Number(await fs.readFile(pidFile(side), 'utf8'));
      await waitFor(
        `the stopped side's sleep (${pid})`,
        async () => ((await gone(pid)) ? undefined : 'running'),
        { timeoutMs: 5000 },
      );
    }
    assert.ok(performance.now() - started < 15_000);
  });

  it('points symlinks and reads them back', async () => {
    const link = path.join(remote, 'current');
    assert.equal(await driver.readlink('test-a', link), undefined);
    await driver.symlink('test-a', 'releases/r1', link);
    await driver.symlink('test-a', 'releases/r2', link);
    assert.equal(await driver.readlink('test-a', link), 'releases/r2');
    await assert.rejects(driver.readlink('test-a', remote), /is not a symbolic link/);
  });

  it('spawns a process that outlives the connection, its environment in a 0600 file', async () => {
    const logFile = path.join(remote, 'log', 'app.log');
    const cwd = path.join(remote, 'work');
    await driver.mkdir('test-a', cwd);
    const pid = await driver.spawn(
      'test-a',
      { argv: ['sh', '-c', 'echo "started in $(pwd) with $GREETING"; exec sleep 30'] },
      { logFile, env: { GREETING: "it's a secret" }, cwd },
    );
    try {
      await waitFor(
        'the spawned process',
        async () => {
          const text = await fs.readFile(logFile, 'utf8').catch(() => '');
          return text.includes('started') ? undefined : 'no output yet';
        },
        { timeoutMs: 10_000 },
      );
      assert.equal(await fs.readFile(logFile, 'utf8'), `started in ${cwd} with it's a secret\n`);
      assert.equal((await fs.stat(`${logFile}.env`)).mode & 0o7777, 0o600);
      assert.equal(await fs.readFile(`/proc/${pid}/cmdline`, 'utf8'), 'sleep\x0030\x00');
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('follows a file through one session: each change, its absence, and the session ends when closed', async () => {
    const file = path.join(remote, 'followed', 'database.json');
    // The processes on the host that run the follow loop for this file (the sshd is this machine).
    const loops = async (): Promise<number[]> => {
      const pids: number[] = [];
      for (const entry of await fs.readdir('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        const argv = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
        if (argv.startsWith('bash\0-c\0') && argv.includes(`\0${file}\0`)) pids.push(Number(entry));
      }
      return pids;
    };
    const sees = (what: string, expected: string | undefined) =>
      waitFor(
        what,
        () => {
          const seen = follower.latest();
          if (seen !== undefined && seen.text === expected) return Promise.resolve(undefined);
          return Promise.resolve(`seen ${JSON.stringify(seen)}`);
        },
        { timeoutMs: 15_000 },
      );
    const first = '{\n  "primary": "db-01",\n  "note": "100% \\\\ back\\tslash"\n}';
    await driver.writeFile('test-a', file, first);
    const follower = driver.follow('test-a', file, 100);
    try {
      await sees('the first content, byte for byte', first);
      const [loop, ...more] = await loops();
      assert.ok(loop !== undefined && more.length === 0, 'one loop on the host');
      await driver.writeFile('test-a', file, 'second\n');
      await sees('the change', 'second\n');
      await driver.remove('test-a', file);
      await sees('its absence', undefined);
      await driver.writeFile('test-a', file, '');
      await sees('an empty file', '');
      // Still the same process: no session, shell or process per look.
      assert.deepEqual(await loops(), [loop]);
    } finally {
      follower.close();
    }
    await waitFor(
      'the loop on the host ended',
      async () => ((await loops()).length === 0 ? undefined : 'still running'),
      { timeoutMs: 15_000 },
    );
    assert.equal(follower.latest(), undefined);
  });

  it('attaches a command and returns its exit code', async () => {
    assert.equal(await driver.attach('test-b', { argv: ['sh', '-c', 'exit 7'] }), 7);
  });

  it('refuses a host whose key is not the pinned one, and says what to do', async () => {
    const other = (await sshd.otherHostKey()).split(' ').slice(0, 2).join(' ');
    await fs.appendFile(driver.knownHostsFile, `test-c ${other}\n`);
    const marker = path.join(remote, 'must-not-exist');
    await assert.rejects(
      driver.exec('test-c', { argv: ['touch', marker] }),
      (error: unknown) =>
        error instanceof HostKeyChangedError &&
        error.message.startsWith(
          `test-c: refused to connect to ${sshd.destination.user}@127.0.0.1 port ${sshd.destination.port}: ` +
            `its SSH host key is not the one foobar pinned on first contact (in ${driver.knownHostsFile}); it now shows SHA256:`,
        ) &&
        error.message.includes(`ssh-keygen -R test-c -f ${driver.knownHostsFile}`),
    );
    assert.equal(existsSync(marker), false);
    // The pinned key stays as it was: nothing is replaced silently.
    const pins = (await fs.readFile(driver.knownHostsFile, 'utf8')).split('\n');
    assert.deepEqual(
      pins.filter((line) => line.startsWith('test-c ')),
      [`test-c ${other}`],
    );
  });

  it('says which machine it cannot reach', async () => {
    await assert.rejects(
      driver.exec('closed', { argv: ['true'] }),
      (error: unknown) =>
        error instanceof SshConnectError &&
        error.message.startsWith(
          `closed: cannot reach ${sshd.destination.user}@127.0.0.1 port 1 over SSH: ssh: connect to host 127.0.0.1 port 1: Connection refused. `,
        ),
    );
  });

  it('closes its master connections and leaves nothing behind', async () => {
    const masters = await Promise.all([...HOSTS, 'test-c'].map((host) => driver.masterPid(host)));
    const alive = masters.filter((pid) => pid !== undefined);
    assert.equal(alive.length, 2, 'one master for each host reached, none for the refused one');
    await driver.close();
    for (const pid of alive) {
      await waitFor(
        `master ${pid} to exit`,
        async () => ((await gone(pid)) ? undefined : 'running'),
        {
          timeoutMs: 5000,
        },
      );
    }
    // A closed driver connects again when asked.
    assert.equal((await driver.exec('test-a', { argv: ['echo', 'again'] })).stdout, 'again\n');
  });
});

async function gone(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || / [ZX] /.test(stat.slice(stat.lastIndexOf(')')));
}
