import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { LockedError, withLock } from './lock.ts';
import { waitFor } from './wait.ts';

it('refuses a second holder while the first works, names it, and frees the lock after', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-lock-'));
  const file = path.join(dir, 'lock');
  try {
    let release = (): void => undefined;
    const first = withLock(
      file,
      'foobar deploy',
      () => new Promise<void>((resolve) => (release = resolve)),
    );
    await waitFor(
      'the first holder to write the lock',
      () =>
        fs.access(file).then(
          () => undefined,
          () => 'no lock file yet',
        ),
      { timeoutMs: 5000, intervalMs: 5, maxIntervalMs: 20 },
    );
    // Pretend another live process holds it: the parent of this test runner is alive.
    const held = JSON.parse(await fs.readFile(file, 'utf8')) as { pid: number };
    await fs.writeFile(file, JSON.stringify({ ...held, pid: process.ppid }));
    await assert.rejects(
      withLock(file, 'foobar up', () => Promise.resolve()),
      (error: unknown) => {
        assert.ok(error instanceof LockedError);
        assert.match(error.message, /`foobar deploy` \(pid \d+\) has held .*lock since \d{4}-/);
        return true;
      },
    );
    await fs.writeFile(file, JSON.stringify(held));
    release();
    await first;
    await assert.rejects(fs.access(file));
    // A lock left by a dead process is taken over.
    await fs.writeFile(
      file,
      JSON.stringify({ pid: 2 ** 22 + 1, command: 'foobar up', since: 'then' }),
    );
    assert.equal(await withLock(file, 'foobar up', () => Promise.resolve(42)), 42);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
