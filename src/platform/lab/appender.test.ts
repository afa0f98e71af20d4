import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { NetnsDriver } from '../../drivers/netns.ts';
import { sleep } from '../../lib/wait.ts';
import { APPENDER_PIPE_BYTES, appenderCommand } from './appender.ts';

/** True once `pid` has exited (gone, or a zombie of this process). */
function exited(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return true;
  return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

it('appends every line a daemon writes to its pipe, a burst larger than a default pipe too, through a 1 MB pipe, and ends with its writer', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'foobar-appender-'));
  try {
    const driver = new NetnsDriver(() => {
      throw new Error('no namespace in this test');
    });
    const pipe = path.join(root, 'haproxy.out');
    const log = path.join(root, 'haproxy.log');
    execFileSync('mkfifo', [pipe]);
    writeFileSync(log, 'before\n');
    // The daemon first (the supervisor starts the appender first; this is the harder order):
    // the driver opens a pipe read-write for it, so its open waits for no reader and what it
    // writes meanwhile waits in the pipe.
    const burst = 'x'.repeat(99);
    const daemon = await driver.spawn(
      null,
      {
        argv: [
          'sh',
          '-c',
          `echo one; sleep 0.3; i=0; while [ $i -lt 3000 ]; do echo ${burst}; i=$((i+1)); done; sleep 0.3; echo two`,
        ],
      },
      { logFile: pipe },
    );
    const appender = await driver.spawn(null, appenderCommand(pipe), { logFile: log });
    // The pipe's size, asked of the pipe itself (F_GETPIPE_SZ) while both hold it.
    await sleep(100);
    const size = execFileSync(
      'perl',
      ['-e', 'open(my $p, "+<", $ARGV[0]) or die; print fcntl($p, 1032, 0)', pipe],
      { encoding: 'utf8' },
    );
    assert.equal(Number(size), APPENDER_PIPE_BYTES);
    for (let i = 0; i < 100 && !(exited(daemon) && exited(appender)); i++) await sleep(50);
    assert.ok(exited(appender), 'the appender ended with its writer');
    const lines = readFileSync(log, 'utf8').split('\n');
    assert.deepEqual(
      [lines[0], lines[1], lines.filter((l) => l === burst).length, lines.at(-2), lines.at(-1)],
      ['before', 'one', 3000, 'two', ''],
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
