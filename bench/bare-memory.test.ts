import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { againstBareMemory, bareMemoryCases, bareKindOf, formatBareMemory } from './bare-memory.ts';
import { memoryOf } from './memory.ts';

it('renders bare configs that the daemons’ own checkers accept', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bare-memory-'));
  try {
    const cases = bareMemoryCases(dir, process.execPath, 19_400);
    for (const bare of cases) for (const file of bare.files) writeFileSync(file.path, file.content);
    const file = (name: string): string => path.join(dir, name);
    execFileSync('haproxy', ['-c', '-q', '-f', file('haproxy.cfg')]);
    execFileSync('nginx', ['-t', '-q', '-c', file('nginx.conf')], { stdio: 'pipe' });
    execFileSync('promtool', ['check', 'config', file('prometheus.yml')], { stdio: 'pipe' });
    execFileSync('amtool', ['check-config', file('alertmanager.yml')], { stdio: 'pipe' });
    execFileSync(
      'prometheus-blackbox-exporter',
      [`--config.file=${file('blackbox.yml')}`, '--config.check'],
      { stdio: 'pipe' },
    );
    // Every kind once, each on ports of its own.
    assert.equal(new Set(cases.map((c) => c.kind)).size, cases.length);
    // Ports of one case may repeat (etcd advertises what it listens on); of two, never.
    const ports = cases.flatMap((c) => [
      ...new Set(
        c.argv.flatMap((arg) => [...arg.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => m[1])),
      ),
    ]);
    assert.equal(new Set(ports).size, ports.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('holds each kind of ours against as many bare instances as it runs', () => {
  assert.equal(bareKindOf('failover manager (node)'), 'node');
  assert.equal(bareKindOf('mariadbd'), 'mariadbd');
  const ours = memoryOf([
    ['failover manager (node)', { processes: 3, mb: 110, ussMb: 92, dirtyMb: 90 }],
    ['nginx', { processes: 6, mb: 24, ussMb: 20, dirtyMb: 18 }],
    ['keepalived', { processes: 4, mb: 8, ussMb: 2, dirtyMb: 1 }],
  ]);
  const rows = againstBareMemory(ours, [
    { kind: 'node', processes: 1, dirtyMb: 8, ussMb: 9, pssMb: 12 },
    { kind: 'nginx', processes: 3, dirtyMb: 2, ussMb: 2.5, pssMb: 3 },
  ]);
  assert.deepEqual(
    rows.map((r) => [r.kind, r.instances, r.bareMb, r.ours.dirtyMb - r.bareMb]),
    [
      ['failover manager (node)', 3, 24, 66],
      ['nginx', 2, 4, 14],
      // No bare reference: counted as its own.
      ['keepalived', 4, 1, 0],
    ],
  );
  const table = formatBareMemory(rows, 15_000);
  assert.match(table, /after 15 s/);
  assert.match(table, /^total\s+109\.0\s+29\.0\s+80\.0$/m);
});
