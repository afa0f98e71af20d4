import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { missingTools, onPath } from './tools.ts';

it('names each missing program once, with the parts that need it, and says what to do', () => {
  const has = (program: string) => program !== 'perf' && program !== 'h2load';
  assert.equal(
    missingTools(['tiers', 'bare', 'features', 'sampled', 'memory'], has),
    'not installed: h2load (parts bare, features), perf (part sampled). Run bash scripts/bootstrap.sh (as root) to install them, or leave those parts out with BENCH_PARTS',
  );
  assert.equal(missingTools(['tiers', 'memory'], has), undefined);
});

it('finds a program by the executable files of PATH', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-tools-'));
  try {
    writeFileSync(path.join(dir, 'runs'), '#!/bin/sh\n');
    chmodSync(path.join(dir, 'runs'), 0o755);
    writeFileSync(path.join(dir, 'plain'), '');
    chmodSync(path.join(dir, 'plain'), 0o644);
    const PATH = ['/nonexistent', dir].join(path.delimiter);
    assert.equal(onPath('runs', PATH), true);
    // root may execute any file with an x bit; a file with none is not a program, for root too.
    assert.equal(onPath('plain', PATH), false);
    assert.equal(onPath('absent', PATH), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
