import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { buildModel } from '../model/build.ts';
import { buildDaemons, daemonsKey, KEEP_DAEMON_BUILDS, supersededBuilds } from './daemons.ts';

describe('superseded daemon builds', () => {
  it('keeps the current build and the newest other one, whatever their order', () => {
    assert.equal(KEEP_DAEMON_BUILDS, 2);
    const builds = [
      { id: 'aaaaaaaaaaaa', mtime: 100 },
      { id: 'cccccccccccc', mtime: 300 },
      { id: 'bbbbbbbbbbbb', mtime: 200 },
      { id: 'dddddddddddd', mtime: 50 },
    ];
    assert.deepEqual(supersededBuilds(builds, 'dddddddddddd'), ['bbbbbbbbbbbb', 'aaaaaaaaaaaa']);
    assert.deepEqual(supersededBuilds(builds, 'cccccccccccc'), ['aaaaaaaaaaaa', 'dddddddddddd']);
  });

  it('removes nothing but builds: a staging directory or another name stays', () => {
    const builds = [
      { id: '.staged', mtime: 1 },
      { id: 'notes', mtime: 2 },
      { id: 'aaaaaaaaaaaa', mtime: 3 },
      { id: 'bbbbbbbbbbbb', mtime: 4 },
    ];
    assert.deepEqual(supersededBuilds(builds, 'cccccccccccc'), ['aaaaaaaaaaaa']);
    assert.deepEqual(supersededBuilds(builds.slice(0, 3), 'cccccccccccc'), []);
  });

  it('are removed from this machine when a new build is made', async () => {
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
