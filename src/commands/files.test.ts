import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { runProcess } from '../drivers/process.ts';
import { files } from './files.ts';

const lines = (from: number, to: number): string =>
  Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join('');

describe('files.logs (what foobar logs shows)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-logs-'));
  const access = path.join(dir, 'access.log');
  const app = path.join(dir, 'app.log');
  // logrotate's generations (compressed) and the lab's (plain), oldest first by name.
  writeFileSync(`${access}.20261205T090000.gz`, gzipSync(lines(1, 4)));
  writeFileSync(`${access}.20261205T091000Z`, lines(5, 7));
  writeFileSync(access, lines(8, 9));
  writeFileSync(app, 'app 1\n');
  const run = async (
    paths: readonly string[],
    options: Parameters<typeof files.logs>[1],
  ): Promise<string> => {
    const result = await runProcess(files.logs(paths, options).argv, { timeoutMs: 10_000 });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stderr, '');
    return result.stdout;
  };

  it('reads back through the rotated generations, compressed or not, when the live file holds fewer lines', async () => {
    assert.equal(await run([access], { lines: 6, follow: false }), lines(4, 9));
    assert.equal(await run([access], { lines: 2, follow: false }), lines(8, 9));
    assert.equal(await run([access], { lines: 50, follow: false }), lines(1, 9));
  });

  /** Stands for journalctl: its lines, a cursor when asked, and a follower after that cursor. */
  const journal = {
    name: 'journalctl -u foobar-nginx.service',
    argv: [
      'sh',
      '-c',
      [
        'for a; do case $a in --show-cursor) cursor=1;; --after-cursor=*) after=${a#--after-cursor=};; --follow) follow=1;; esac; done',
        'if [ -n "$follow" ]; then [ "$after" = s=abc ] || { echo "followed without the cursor: $*"; exit 1; }; echo "journal-pid $$"; exec sleep 60; fi',
        'echo "from the journal"; [ -z "$cursor" ] || echo "-- cursor: s=abc"',
      ].join('\n'),
      'journalctl',
    ],
  };

  it('shows the journal first, then each file under its name; a missing file is skipped', async () => {
    assert.equal(
      await run([access, app, path.join(dir, 'none.log')], { lines: 1, follow: false, journal }),
      [
        '==> journalctl -u foobar-nginx.service <==',
        'from the journal',
        `==> ${access} <==`,
        'line 9',
        `==> ${app} <==`,
        'app 1',
        '',
      ].join('\n'),
    );
  });

  /**
   * `foobar logs -f`'s command running, as a terminal's foreground job, its standard input a
   * pipe held open as foobar holds it (attachProcess).
   */
  function following(paths: readonly string[], options: Parameters<typeof files.logs>[1]) {
    const command = files.logs(paths, options);
    assert.equal(command.endsWithInput, true);
    const [file = '', ...args] = command.argv;
    // A group of its own: Ctrl-C signals the whole group, as a terminal does.
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // 'exit', not 'close': a follower left running would hold the output open.
    const exited = new Promise((resolve) => child.once('exit', resolve));
    return {
      output: () => out,
      waitFor: async (what: RegExp): Promise<RegExpExecArray> => {
        for (let i = 0; i < 100; i++) {
          const m = what.exec(out);
          if (m !== null) return m;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`never printed ${String(what)}: ${out}`);
      },
      interrupt: async (): Promise<void> => {
        process.kill(-(child.pid ?? 0), 'SIGINT');
        await exited;
      },
      /** Its caller gone: foobar's end closes the pipe (over SSH, the connection's end does). */
      closeInput: (): void => {
        child.stdin.end();
      },
      exited,
      pid: child.pid ?? 0,
    };
  }

  /** True while `pid` runs (a zombie not reaped yet counts as gone). */
  const running = (pid: number): boolean => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };

  /** The processes `pid` started, from /proc (children of children too). */
  const descendants = (pid: number): number[] => {
    const children = (
      readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').match(/\d+/g) ?? []
    ).map(Number);
    return children.flatMap((c) => [c, ...(running(c) ? descendants(c) : [])]);
  };

  it('follows a file from its last lines, the rotated ones first, each shown once', async () => {
    const logs = following([access], { lines: 4, follow: true });
    try {
      await logs.waitFor(/line 9\n/);
      appendFileSync(access, 'line 10\n');
      await logs.waitFor(/line 10\n/);
      assert.equal(logs.output(), lines(6, 10));
    } finally {
      await logs.interrupt();
    }
  });

  it('follows the journal from the cursor of its last line shown, and stops it on Ctrl-C', async () => {
    const logs = following([app], { lines: 1, follow: true, journal });
    let pid: number;
    try {
      pid = Number((await logs.waitFor(/journal-pid (\d+)/))[1]);
      await logs.waitFor(/app 1\n/);
      appendFileSync(app, 'app 2\n');
      await logs.waitFor(/app 2\n/);
      assert.match(
        logs.output(),
        /^==> journalctl -u foobar-nginx.service <==\nfrom the journal\n/,
      );
      assert.doesNotMatch(logs.output(), /cursor|without the cursor/);
    } finally {
      await logs.interrupt();
    }
    // Its background journal follower is gone with it.
    for (let i = 0; i < 40 && running(pid); i++) await new Promise((r) => setTimeout(r, 50));
    if (running(pid)) process.kill(pid, 'SIGKILL');
    assert.equal(running(pid), false, `the journal follower (pid ${pid}) still ran`);
  });

  it('ends when its standard input closes, with no line to write, its followers with it', async () => {
    const logs = following([access, app], { lines: 1, follow: true, journal });
    let followers: number[];
    let ended = false;
    try {
      await logs.waitFor(/journal-pid \d+/);
      await logs.waitFor(/app 2\n/);
      // tail, the journal's follower, the watcher of its input and its cat: on a busy machine
      // the last may start a moment after the first lines are out.
      followers = descendants(logs.pid);
      for (let i = 0; i < 60 && followers.length < 4; i++) {
        await new Promise((r) => setTimeout(r, 50));
        followers = descendants(logs.pid);
      }
      logs.closeInput();
      ended = await Promise.race([
        logs.exited.then(() => true),
        new Promise<boolean>((r) => {
          setTimeout(() => {
            r(false);
          }, 3000);
        }),
      ]);
      for (let i = 0; i < 40 && followers.some(running); i++)
        await new Promise((r) => setTimeout(r, 50));
    } finally {
      if (!ended) process.kill(-logs.pid, 'SIGKILL');
    }
    const left = followers.filter(running);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    assert.ok(ended, `still following 3 s after its input closed: ${logs.output()}`);
    assert.ok(followers.length >= 4, `followers: ${followers.join(', ')}`);
    assert.deepEqual(left, [], `of its followers ${followers.join(', ')}, still running`);
    rmSync(dir, { recursive: true, force: true });
  });
});
