import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { NetnsDriver } from '../drivers/netns.ts';
import { secretStore } from './secrets.ts';

it('generates a secret once, keeps it 0600 in a 0700 directory, and returns the same value after', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-secrets-'));
  try {
    const dir = path.join(root, 'secrets');
    const store = secretStore(new NetnsDriver((h) => h), dir);
    const first = await store.get('db-app');
    assert.match(first, /^[A-Za-z0-9_-]{32}$/);
    assert.equal(await store.get('db-app'), first);
    assert.equal((await fs.stat(store.pathOf('db-app'))).mode & 0o777, 0o600);
    assert.equal((await fs.stat(dir)).mode & 0o777, 0o700);
    assert.throws(() => store.pathOf('../etc/passwd'), /bad secret name/);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
