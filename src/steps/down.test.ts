import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { NetnsDriver } from '../drivers/netns.ts';
import { buildModel } from '../model/build.ts';
import { labPaths } from '../model/layout.ts';
import { createContext } from './context.ts';
import { purgeState, removeEmptyState } from './down.ts';
import { labLock, withLabLock } from './lock.ts';

const local = new NetnsDriver(() => {
  throw new Error('this test runs on this machine only');
});

it('down --purge deletes the state but the lock it holds, while the lock’s heartbeat writes in it, and the emptied directory once the lock is released', async () => {
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-down-'));
  try {
    const ctx = createContext(buildModel({ lab: { stateDir } }), local);
    const { state, lock } = labPaths(ctx.model);
    for (const file of ['secrets/db-app', 'hosts/db-01/data/ibdata1', 'audit.log'])
      await fs
        .mkdir(path.dirname(path.join(state, file)), { recursive: true })
        .then(() => fs.writeFile(path.join(state, file), 'x'));
    await withLabLock(labLock(ctx), 'foobar down --purge', async () => {
      // A heartbeat as fast as the disk allows: the old deletion of the whole directory under it
      // failed with ENOTEMPTY, or left the lock's directory made again.
      const beating = { on: true };
      const beats = (async () => {
        while (beating.on) await ctx.driver.writeFile(null, path.join(lock, 'heartbeat'), 'now\n');
      })();
      try {
        await purgeState(ctx);
      } finally {
        beating.on = false;
        await beats;
      }
      assert.deepEqual(await fs.readdir(state), [path.basename(lock)]);
    });
    await removeEmptyState(ctx);
    assert.equal(existsSync(state), false, state);
  } finally {
    await fs.rm(stateDir, { recursive: true, force: true });
  }
});
