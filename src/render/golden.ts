/** Golden files: the expected output sits beside the renderer, readable as the daemon's own config. */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Compares `actual` with the golden file; `UPDATE_GOLDEN=1` rewrites it instead. */
export function assertGolden(file: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(file, 'utf8');
  } catch {
    assert.fail(`${file} is missing: run UPDATE_GOLDEN=1 npm run test:unit and review it`);
  }
  assert.equal(
    actual,
    expected,
    `${path.basename(file)} differs: if the change is intended, UPDATE_GOLDEN=1 npm run test:unit`,
  );
}
