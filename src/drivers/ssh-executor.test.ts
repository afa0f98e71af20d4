/**
 * The executor's program run by this machine's Perl (`sh -c` in place of `ssh ... --`, which runs
 * its remote command the same way): the framing, concurrency, timeouts, a session that ends, and a
 * host without Perl. Through a real sshd: ssh.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../lib/wait.ts';
import { Executor } from './ssh-executor.ts';

const MARGIN_MS = 5000;

describe('the executor session', () => {
  const executor = new Executor(['sh', '-c']);
  after(() => executor.close());

  it('passes any bytes of argv, input and output, and tells stdout, stderr and the exit code apart', async () => {
    const args = ['a b', "it's", '$HOME', '', 'two\nlines', 'ünï', '-n', '\\'];
    const echoed = await executor.run(
      ['sh', '-c', 'printf "%s\\0" "$@"; echo oops >&2; exit 3', 'sh', ...args],
      undefined,
      10_000,
      MARGIN_MS,
    );
    assert.deepEqual(echoed.stdout.split('\0').slice(0, -1), args);
    assert.equal(echoed.stderr, 'oops\n');
    assert.equal(echoed.exitCode, 3);
    const bytes = Buffer.from(Array.from({ length: 3 * 65536 + 7 }, (_, i) => (i * 7) % 256));
    const sum = await executor.run(['sha256sum'], bytes, 10_000, MARGIN_MS);
    assert.equal(sum.stdout.split(' ')[0], createHash('sha256').update(bytes).digest('hex'));
  });

  it('writes a large input while it reads the output (cat of 4 MB does not block)', async () => {
    const text = 'x'.repeat(4 * 1024 * 1024);
    const result = await executor.run(['cat'], text, 30_000, MARGIN_MS);
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout.length, text.length);
  });

  it('says a command that cannot start, and one a signal ended, as a shell does', async () => {
    const missing = await executor.run(['no-such-command-here'], undefined, 10_000, MARGIN_MS);
    assert.equal(missing.exitCode, 127);
    assert.match(missing.stderr, /cannot run no-such-command-here/);
    const killed = await executor.run(['sh', '-c', 'kill -KILL $$'], undefined, 10_000, MARGIN_MS);
    assert.equal(killed.exitCode, 128 + 9);
  });

  it('runs several commands at once, each answered as it ends', async () => {
    const order: string[] = [];
    await Promise.all(
      ['0.6', '0.1', '0.3'].map(async (seconds) => {
        const result = await executor.run(['sleep', seconds], undefined, 10_000, MARGIN_MS);
        assert.equal(result.exitCode, 0);
        order.push(seconds);
      }),
    );
    assert.deepEqual(order, ['0.1', '0.3', '0.6']);
  });

  it('ends a command at its timeout with its whole process group: TERM (124), then KILL (137)', async () => {
    const marker = `/tmp/foobar-executor-test-${process.pid}`;
    const termed = await executor.run(
      ['sh', '-c', `sleep 30 & echo $! > ${marker}; wait`],
      undefined,
      300,
      MARGIN_MS,
    );
    assert.equal(termed.exitCode, 124);
    const child = readFileSync(marker, 'utf8').trim();
    rmSync(marker);
    await waitFor(
      'the command’s own child ended too',
      () => Promise.resolve(existsSync(`/proc/${child}`) ? `${child} still running` : undefined),
      { timeoutMs: 5000 },
    );
    const stubborn = await executor.run(
      ['sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done'],
      undefined,
      300,
      MARGIN_MS,
    );
    assert.equal(stubborn.exitCode, 137);
  });

  it('never ends a command before its timeout (its clock moves by whole ticks)', async () => {
    // A command ended early reads as its own exit 124 to the driver, not as a timeout. One after
    // the other, each started 0-9 ms after the last ended: at every phase of the 10 ms tick.
    const early: string[] = [];
    for (let i = 0; i < 60; i++) {
      await sleep(i % 10);
      const start = performance.now();
      const result = await executor.run(['sleep', '5'], undefined, 50, MARGIN_MS);
      const took = performance.now() - start;
      assert.equal(result.exitCode, 124);
      if (took < 50) early.push(took.toFixed(1));
    }
    assert.deepEqual(early, [], `ended before its 50 ms: ${early.join(', ')} ms`);
  });
});

describe('an executor session that ends', () => {
  it('answers the commands it was running as ssh answers a lost connection (exit 255), and takes no more', async () => {
    const executor = new Executor(['sh', '-c']);
    assert.equal((await executor.run(['true'], undefined, 10_000, MARGIN_MS)).exitCode, 0);
    const running = executor.run(['sleep', '30'], undefined, 60_000, MARGIN_MS);
    // The session's own process gone, as when the connection drops.
    const pid = (await executor.run(['sh', '-c', 'echo $PPID'], undefined, 10_000, MARGIN_MS))
      .stdout;
    process.kill(Number(pid), 'SIGKILL');
    const lost = await running;
    assert.equal(lost.exitCode, 255);
    assert.equal(executor.open, false);
    assert.equal(executor.fallback, false);
    assert.equal((await executor.run(['true'], undefined, 10_000, MARGIN_MS)).exitCode, 255);
    await executor.close();
  });

  it('on a host without Perl, says so (fallback) instead of failing the command', async () => {
    const executor = new Executor(['env', 'PATH=/nonexistent', '/bin/sh', '-c']);
    const result = await executor.run(['true'], undefined, 10_000, MARGIN_MS);
    assert.equal(executor.fallback, true);
    assert.equal(result.exitCode, -1);
    await executor.close();
  });

  it('ends the commands still running when it is closed', async () => {
    const executor = new Executor(['sh', '-c']);
    const marker = `/tmp/foobar-executor-close-${process.pid}`;
    const running = executor.run(
      ['sh', '-c', `echo $$ > ${marker}; sleep 30`],
      undefined,
      60_000,
      MARGIN_MS,
    );
    await waitFor(
      'the command to start',
      () =>
        Promise.resolve(
          existsSync(marker) && readFileSync(marker, 'utf8').trim() !== ''
            ? undefined
            : 'no PID yet',
        ),
      { timeoutMs: 10_000 },
    );
    const pid = readFileSync(marker, 'utf8').trim();
    rmSync(marker);
    await executor.close();
    assert.equal((await running).exitCode, 255);
    await waitFor(
      'its end',
      () => Promise.resolve(existsSync(`/proc/${pid}`) ? 'still running' : undefined),
      { timeoutMs: 10_000 },
    );
  });
});
