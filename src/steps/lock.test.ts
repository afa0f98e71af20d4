import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { NetnsDriver } from '../drivers/netns.ts';
import { LockedError } from '../lib/lock.ts';
import { waitFor } from '../lib/wait.ts';
import { withLabLock, withLabLockOrLeave, type LockPlace } from './lock.ts';

const local = new NetnsDriver(() => {
  throw new Error('this test runs on this machine only');
});

async function place(): Promise<LockPlace & { cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-lock-'));
  return {
    driver: local,
    target: null,
    dir: path.join(dir, 'lock'),
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

async function plant(dir: string, holder: object, heartbeatAgeSeconds = 0): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'holder.json'), JSON.stringify(holder));
  const beat = path.join(dir, 'heartbeat');
  await fs.writeFile(beat, 'then\n');
  const then = new Date(Date.now() - heartbeatAgeSeconds * 1000);
  await fs.utimes(beat, then, then);
}

it('of many takers at once exactly one wins; the others are told who holds it', async () => {
  const at = await place();
  try {
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const tries = Array.from({ length: 6 }, (_, i) =>
      withLabLock(at, `foobar deploy #${i}`, () => held).then(
        () => 'won',
        (error: unknown) => {
          assert.ok(error instanceof LockedError, String(error));
          assert.match(
            error.message,
            new RegExp(
              `^another foobar is changing this lab: \`foobar deploy #\\d\` \\(pid ${process.pid}\\) has held ${at.dir} since \\d{4}-\\d\\d-\\d\\dT.*, run by \\S+ on ${os.hostname()}\\. Wait for it to finish\\.$`,
            ),
          );
          return 'refused';
        },
      ),
    );
    // The losers give up at once (bounded), while the winner still works.
    let settled = 0;
    for (const t of tries) void t.then(() => (settled += 1));
    await waitFor(
      'five takers refused',
      () => Promise.resolve(settled === 5 ? undefined : `${settled} settled`),
      {
        timeoutMs: 10_000,
      },
    );
    release();
    const outcomes = await Promise.all(tries);
    assert.equal(outcomes.filter((o) => o === 'won').length, 1, outcomes.join(', '));
    // Released: nothing left beside it, and the next taker gets it.
    assert.deepEqual(await fs.readdir(path.dirname(at.dir)), []);
    assert.equal(await withLabLock(at, 'foobar up', () => Promise.resolve(42)), 42);
  } finally {
    await at.cleanup();
  }
});

it('takes over a lock whose holder died here, or fell silent elsewhere; not a live one', async () => {
  const at = await place();
  try {
    const since = '2026-12-03T10:00:00.000Z';
    // A process of this machine that is gone.
    await plant(at.dir, {
      pid: 2 ** 22 + 1,
      command: 'foobar up',
      since,
      machine: os.hostname(),
      user: 'ann',
    });
    assert.equal(await withLabLock(at, 'foobar up', () => Promise.resolve('ran')), 'ran');
    // Another laptop, heartbeat 30 s old: still held.
    const elsewhere = { pid: 1, command: 'foobar deploy', since, machine: 'laptop-2', user: 'bob' };
    await plant(at.dir, elsewhere, 30);
    await assert.rejects(
      withLabLock(at, 'foobar up', () => Promise.resolve()),
      /`foobar deploy` \(pid 1\) has held .* since 2026-12-03T10:00:00.000Z, run by bob on laptop-2/,
    );
    // Its heartbeat two minutes old: the laptop is gone.
    await plant(at.dir, elsewhere, 120);
    assert.equal(await withLabLock(at, 'foobar up', () => Promise.resolve('ran')), 'ran');
    // A lock file of an older foobar (not a directory) is no holder.
    await fs.writeFile(at.dir, JSON.stringify({ pid: 2 ** 22 + 1, command: 'x', since }));
    assert.equal(await withLabLock(at, 'foobar up', () => Promise.resolve('ran')), 'ran');
  } finally {
    await at.cleanup();
  }
});

it('lets a live holder allow named work meanwhile, and only that', async () => {
  const at = await place();
  try {
    const holder = {
      pid: 1,
      command: 'foobar drill',
      since: '2026-12-02T00:00:00Z',
      machine: 'laptop-2',
      user: 'bob',
    };
    await plant(at.dir, { ...holder, lets: ['automatic failover'] });
    assert.equal(
      await withLabLockOrLeave(at, 'manager', 'automatic failover', () => Promise.resolve('ran')),
      'ran',
    );
    await assert.rejects(
      withLabLockOrLeave(at, 'manager', 'a deploy', () => Promise.resolve('ran')),
      LockedError,
    );
    const kept = JSON.parse(await fs.readFile(path.join(at.dir, 'holder.json'), 'utf8')) as {
      command: string;
    };
    assert.equal(kept.command, 'foobar drill');
    await plant(at.dir, holder);
    await assert.rejects(
      withLabLockOrLeave(at, 'manager', 'automatic failover', () => Promise.resolve('ran')),
      LockedError,
    );
  } finally {
    await at.cleanup();
  }
});
