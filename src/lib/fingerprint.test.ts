import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sourceFingerprint } from './fingerprint.ts';

describe('sourceFingerprint', () => {
  it('changes with the code and not with the tests', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fingerprint-'));
    try {
      const tree = (code: string, test: string): string => {
        const root = mkdtempSync(path.join(dir, 'src-'));
        mkdirSync(path.join(root, 'failover'));
        writeFileSync(path.join(root, 'failover', 'judge.ts'), code);
        writeFileSync(path.join(root, 'failover', 'judge.test.ts'), test);
        return sourceFingerprint(root);
      };
      const first = tree('export const a = 1;\n', 'test one');
      assert.match(first, /^[0-9a-f]{12}$/);
      assert.equal(tree('export const a = 1;\n', 'test two'), first);
      assert.notEqual(tree('export const a = 2;\n', 'test one'), first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
