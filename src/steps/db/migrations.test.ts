import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_APP_DIR } from '../../release/build.ts';
import { loadMigrations } from './migrations.ts';

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-migrations-'));
  for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(dir, name), text);
  return dir;
}

describe('loadMigrations', () => {
  it('reads the app’s migrations in order, each with a checksum', async () => {
    const migrations = await loadMigrations(path.join(DEFAULT_APP_DIR, 'migrations'));
    const [first] = migrations;
    assert.ok(first !== undefined);
    assert.equal(first.id, '001_messages');
    assert.match(first.sql, /CREATE TABLE IF NOT EXISTS messages/);
    assert.match(first.checksum, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      migrations.map((m) => m.id),
      migrations.map((m) => m.id).sort(),
    );
  });

  it('refuses badly named, doubly numbered or unterminated migrations', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ 'messages.sql': 'SELECT 1;' }, /a migration is named NNN_words.sql/],
      [{ '001_a.sql': 'SELECT 1;', '001_b.sql': 'SELECT 2;' }, /two migrations are numbered 001/],
      [{ '001_a.sql': 'SELECT 1' }, /end the last statement with a semicolon/],
    ];
    for (const [files, message] of cases) {
      const dir = await dirWith(files);
      try {
        await assert.rejects(loadMigrations(dir), message);
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    }
  });
});
