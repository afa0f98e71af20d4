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

  it('shows the journal first, then each file under its name; a missing file is skipped', async () => {
    const journal = {
      name: 'journalctl -u foobar-nginx.service',
      read: { argv: ['echo', 'from the journal'] },
      follow: { argv: ['sleep', '60'] },
    };
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

  it('follows what the files get next, and stops the journal it followed beside them', async () => {
    const [file = '', ...args] = files.logs([app], {
      lines: 1,
      follow: true,
      journal: {
        name: 'journal',
        read: { argv: ['true'] },
        // Prints its PID, so the test can tell it was stopped.
        follow: { argv: ['sh', '-c', 'echo journal-pid $$; exec sleep 60'] },
      },
    }).argv;
    // A group of its own, as a terminal's foreground job: Ctrl-C signals the whole group.
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (what: RegExp): Promise<RegExpExecArray> => {
      for (let i = 0; i < 100; i++) {
        const m = what.exec(out);
        if (m !== null) return m;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`never printed ${String(what)}: ${out}`);
    };
    const pid = Number((await waitFor(/journal-pid (\d+)/))[1]);
    await waitFor(/app 1\n/);
    appendFileSync(app, 'app 2\n');
    await waitFor(/app 2\n/);
    // 'exit', not 'close': a follower left running would hold the output open.
    const closed = new Promise((resolve) => child.once('exit', resolve));
    process.kill(-(child.pid ?? 0), 'SIGINT');
    await closed;
    // Its background journal follower is gone with it (dead: gone, or a zombie not reaped yet).
    const alive = (): boolean => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 40 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
    if (alive()) process.kill(pid, 'SIGKILL');
    assert.equal(alive(), false, `the journal follower (pid ${pid}) still ran`);
    rmSync(dir, { recursive: true, force: true });
  });
});
