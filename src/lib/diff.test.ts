import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { unifiedDiff } from './diff.ts';

/** GNU diff's hunks for the same texts: the reference. */
function gnuHunks(before: string, after: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'foobar-diff-'));
  try {
    fs.writeFileSync(path.join(dir, 'a'), before);
    fs.writeFileSync(path.join(dir, 'b'), after);
    try {
      execFileSync('diff', ['-u', 'a', 'b'], { cwd: dir, encoding: 'utf8' });
      return '';
    } catch (error) {
      const out = (error as { stdout: string }).stdout;
      return out.split('\n').slice(2).join('\n');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ours = (before: string, after: string): string =>
  unifiedDiff('f', before, after).split('\n').slice(2).join('\n');

test('equal texts have no diff', () => {
  assert.equal(unifiedDiff('f', 'a\nb\n', 'a\nb\n'), '');
});

test('a new file is all additions against /dev/null', () => {
  assert.equal(
    unifiedDiff('/etc/x', undefined, 'a\nb\n'),
    '--- /dev/null\n+++ /etc/x (planned)\n@@ -0,0 +1,2 @@\n+a\n+b\n',
  );
});

test('hunks match GNU diff -u: one changed value, far-apart changes, insertions, deletions', () => {
  const config = Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n') + '\n';
  const cases: [string, string][] = [
    [config, config.replace('line 7\n', 'line 7 changed\n')],
    [config, config.replace('line 2\n', 'line 2x\n').replace('line 30\n', '')],
    [config, config.replace('line 5\n', 'line 5\nnew a\nnew b\n').replace('line 9\n', 'line 9y\n')],
    [config, config.replace('line 0\n', '').replace('line 39\n', 'line 39\nlast\n')],
    ['a\nb\nc\n', 'x\ny\n'],
  ];
  for (const [before, after] of cases) assert.equal(ours(before, after), gnuHunks(before, after));
});
