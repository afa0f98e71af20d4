import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { NetnsDriver } from './netns.ts';

it('mkdir gives its mode to the directory only, as mkdir -p -m does, not to the parents it makes', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'foobar-netns-mkdir-'));
  try {
    const driver = new NetnsDriver(() => {
      throw new Error('no namespace in this test');
    });
    const secrets = path.join(root, 'state', 'secrets');
    await driver.mkdir(null, secrets, 0o700);
    assert.equal(statSync(secrets).mode & 0o777, 0o700);
    assert.equal(statSync(path.dirname(secrets)).mode & 0o001, 0o001, 'others may pass the parent');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
