/**
 * The lab driver's pipe between two real network namespaces (made for the test and deleted after):
 * bytes intact and counted, each side in its own namespace, and every way it can fail said with
 * host, command and stderr tail, the other side stopped at once.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PipeFailedError, type Command } from './driver.ts';
import { NetnsDriver } from './netns.ts';
import { runProcess } from './process.ts';

const HOSTS = ['src', 'dst'];
const namespaceOf = (host: string): string => `fbpipe-${process.pid}-${host}`;

/** The network namespace a process of `ip netns exec NAME` runs in, as /proc shows it. */
function namespaceId(host: string): string {
  return `net:[${statSync(`/run/netns/${namespaceOf(host)}`).ino}]`;
}

const sh = (script: string, timeoutMs?: number): Command => ({
  argv: ['sh', '-c', script],
  ...(timeoutMs === undefined ? {} : { timeoutMs }),
});

describe('NetnsDriver.pipe between two namespaces', () => {
  const driver = new NetnsDriver(namespaceOf);
  let dir: string;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-pipe-'));
    for (const host of HOSTS) {
      const added = await runProcess(['ip', 'netns', 'add', namespaceOf(host)]);
      assert.equal(added.exitCode, 0, `ip netns add (the test needs root): ${added.stderr}`);
    }
  });

  after(async () => {
    for (const host of HOSTS) await runProcess(['ip', 'netns', 'delete', namespaceOf(host)]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('streams from one namespace into the other, intact and counted', async (t) => {
    const received = path.join(dir, 'received');
    const progress: number[] = [];
    const started = performance.now();
    const result = await driver.pipe(
      // 6.9 MB, and a pause so that progress is reported on the way.
      {
        target: 'src',
        command: sh('readlink /proc/self/ns/net >&2; seq 1 500000; sleep 1.2; seq 500001 1000000'),
      },
      { target: 'dst', command: sh(`readlink /proc/self/ns/net >&2; cat >${received}`) },
      { onProgress: (bytes) => progress.push(bytes) },
    );
    const ms = performance.now() - started;
    const expected = (await runProcess(['seq', '1', '1000000'])).stdout;
    assert.equal(result.bytes, Buffer.byteLength(expected));
    const sum = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
    assert.equal(sum(await fs.readFile(received)), sum(expected));
    assert.equal(result.from.stderr.trim(), namespaceId('src'));
    assert.equal(result.to.stderr.trim(), namespaceId('dst'));
    assert.ok(progress.length >= 2, `progress reported ${progress.length} times`);
    assert.deepEqual(
      progress,
      [...progress].sort((a, b) => a - b),
    );
    assert.equal(progress.at(-1), result.bytes);
    t.diagnostic(`${result.bytes} bytes in ${ms.toFixed(0)} ms (1.2 s of it a pause)`);
  });

  it('a failed source stops the receiver at once, and the error says where and why', async () => {
    const started = performance.now();
    await assert.rejects(
      driver.pipe(
        { target: 'src', command: sh('echo partial; echo "backup: disk full" >&2; exit 3') },
        { target: 'dst', command: { argv: ['sleep', '30'] } },
      ),
      (error: unknown) => {
        assert.ok(error instanceof PipeFailedError);
        assert.equal(
          error.message,
          [
            'streaming from src to dst failed after 8 B:',
            `src: sh -c 'echo partial; echo "backup: disk full" >&2; exit 3' failed (exit 3):`,
            'backup: disk full',
            'dst: sleep 30 was stopped: the other side had failed',
          ].join('\n'),
        );
        return true;
      },
    );
    assert.ok(performance.now() - started < 5000, 'the receiver was not left to run');
  });

  it('a failed receiver stops the source (which would wait on a full pipe for ever)', async () => {
    const started = performance.now();
    await assert.rejects(
      driver.pipe(
        { target: 'src', command: { argv: ['yes'] } },
        {
          target: 'dst',
          command: sh('head -c 1000 >/dev/null; echo "mbstream: bad header" >&2; exit 2'),
        },
      ),
      (error: unknown) =>
        error instanceof PipeFailedError &&
        error.message.includes(
          `dst: sh -c 'head -c 1000 >/dev/null; echo "mbstream: bad header" >&2; exit 2' failed (exit 2):\nmbstream: bad header\nsrc: yes was stopped: the other side had failed`,
        ),
    );
    assert.ok(performance.now() - started < 5000, 'the source was not left to run');
  });

  it('a receiver that ends well before the stream does is a failure too', async () => {
    await assert.rejects(
      driver.pipe(
        { target: 'src', command: { argv: ['yes'] } },
        { target: 'dst', command: { argv: ['head', '-c', '10'] } },
      ),
      (error: unknown) =>
        error instanceof PipeFailedError &&
        /^streaming from src to dst failed after .*:\ndst: head -c 10 ended before the stream did$/.test(
          error.message,
        ),
    );
  });

  it('a source that has sent everything and is still exiting is waited for, not stopped', async () => {
    // As mariadb-backup does at the end of a stream: its output closed, then its last words and
    // its exit. The receiver, at the end of its input, may end first (seen under load: a replica's
    // seeding failed with "mbstream -x ... ended before the stream did" after all 16.9 MB).
    const result = await driver.pipe(
      { target: 'src', command: sh('printf 0123456789; exec 1>&-; sleep 0.5; echo done >&2') },
      { target: 'dst', command: { argv: ['wc', '-c'] } },
    );
    assert.equal(result.bytes, 10);
    assert.equal(result.from.exitCode, 0);
    assert.match(result.from.stderr, /done/);
  });

  it('a side that outlives its timeout is ended, its children too, and so is the other', async () => {
    const started = performance.now();
    await assert.rejects(
      driver.pipe(
        { target: 'src', command: sh('sleep 30', 300) },
        { target: 'dst', command: { argv: ['cat'] } },
      ),
      (error: unknown) =>
        error instanceof PipeFailedError &&
        /^src: sh -c 'sleep 30' timed out$/m.test(error.message) &&
        error.message.includes('dst: cat was stopped'),
    );
    assert.ok(performance.now() - started < 5000, "the shell's child held the pipe open");
  });

  it('says so when a side cannot be started', async () => {
    await assert.rejects(
      driver.pipe(
        { target: null, command: { argv: ['no-such-program-here'] } },
        { target: 'dst', command: { argv: ['cat'] } },
      ),
      /this machine: no-such-program-here failed \(exit 127\):\ncannot run no-such-program-here: spawn no-such-program-here ENOENT/,
    );
  });

  it('refuses a side that brings its own input: its input is the stream', async () => {
    await assert.rejects(
      driver.pipe(
        { target: 'src', command: { argv: ['cat'] } },
        { target: 'dst', command: { argv: ['cat'], input: 'x' } },
      ),
      /dst: a command of a pipe reads the stream, not an input of its own/,
    );
  });
});
