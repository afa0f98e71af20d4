import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { replaceFile } from './atomic.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-atomic-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('replaceFile', () => {
  it('a reader meanwhile sees a whole file every time, the old one or the new, and no temporary is left', async () => {
    const file = path.join(dir, 'status.json');
    const versions = Array.from(
      { length: 100 },
      (_, i) => `${JSON.stringify({ i, pad: 'x'.repeat(65_536) })}\n`,
    );
    await replaceFile(file, versions[0] ?? '');
    const run = { writing: true };
    const seen = new Set<string>();
    const reader = (async () => {
      while (run.writing) seen.add(await readFile(file, 'utf8'));
    })();
    for (const version of versions) await replaceFile(file, version);
    run.writing = false;
    await reader;
    for (const text of seen) assert.ok(versions.includes(text), `a cut file: ${text.length} bytes`);
    assert.ok(seen.size > 1, 'the reader saw the file change');
    assert.deepEqual(readdirSync(dir), ['status.json']);
  });
});
