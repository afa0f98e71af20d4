import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { buildModel } from '../model/build.ts';
import { buildDaemons, daemonsKey, KEEP_DAEMON_BUILDS } from './daemons.ts';

describe('daemon builds', () => {
  it('a new build removes the superseded ones beside it: the newest two stay', async () => {
    assert.equal(KEEP_DAEMON_BUILDS, 2);
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-daemons-'));
    after(() => fs.rm(root, { recursive: true, force: true }));
    const old = [
      ['aaaaaaaaaaaa', 1_000],
      ['bbbbbbbbbbbb', 2_000],
      ['notes', 500],
    ] as const;
    for (const [name, seconds] of old) {
      await fs.mkdir(path.join(root, name));
      await fs.writeFile(path.join(root, name, 'x.mjs'), '');
      await fs.utimes(path.join(root, name), seconds, seconds);
    }
    const built = await buildDaemons(buildModel(undefined), root);
    assert.equal(built.id, daemonsKey());
    assert.equal(built.fresh, true);
    // (`.staged` is where builds are made.)
    const left = (await fs.readdir(root)).filter((name) => !name.startsWith('.'));
    assert.deepEqual(left.sort(), [built.id, 'bbbbbbbbbbbb', 'notes'].sort());
  });
});
