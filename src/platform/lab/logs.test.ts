import assert from 'node:assert/strict';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { copyTruncate, planRotation, rotateBytes, rotatedName, type LogEntry } from './logs.ts';

const MB = 1024 * 1024;
const HOUR = 3_600_000;
const settings = { maxMegabytesPerHost: 50, rotateHours: 24, keepDays: 7 };
const now = Date.parse('2026-12-03T12:00:00Z');
const entry = (p: string, size: number, ageHours = 1): LogEntry => ({
  path: p,
  size,
  mtimeMs: now - ageHours * HOUR,
  birthMs: now - ageHours * HOUR,
});

it('rotates a live file at a fifth of the cap, or once it is rotateHours old', () => {
  assert.equal(rotateBytes(settings), 10 * MB);
  const plan = planRotation(
    [entry('/l/haproxy.log', 10 * MB), entry('/l/app.log', 100, 25), entry('/l/nsd.log', 100)],
    new Set(['/l/haproxy.log', '/l/app.log', '/l/nsd.log']),
    settings,
    now,
  );
  assert.deepEqual(plan, { rotate: ['/l/haproxy.log', '/l/app.log'], remove: [], empty: [] });
});

it('counts a file rotated lately from its newest copy, not its creation', () => {
  const live = new Set(['/l/app.log']);
  const copy = entry(rotatedName('/l/app.log', new Date(now - 2 * HOUR)), 100, 2);
  const plan = planRotation([entry('/l/app.log', 100, 48), copy], live, settings, now);
  assert.deepEqual(plan.rotate, []);
});

it('deletes copies older than keepDays, then the oldest while the host is over its cap', () => {
  const live = new Set(['/l/haproxy.log']);
  const copy = (hoursAgo: number, size: number): LogEntry =>
    entry(rotatedName('/l/haproxy.log', new Date(now - hoursAgo * HOUR)), size, hoursAgo);
  const ancient = copy(8 * 24, MB);
  const old = copy(3, 10 * MB);
  const newer = copy(2, 10 * MB);
  const newest = copy(1, 10 * MB);
  const plan = planRotation(
    [entry('/l/haproxy.log', 25 * MB), ancient, old, newer, newest],
    live,
    settings,
    now,
  );
  // 25 + 3 x 10 = 55 MB over 50: the oldest copy goes; the ancient one whatever the size.
  assert.deepEqual(plan.remove, [ancient.path, old.path].sort());
  assert.deepEqual(plan.rotate, ['/l/haproxy.log']);
  assert.deepEqual(plan.empty, []);
});

it('keeps room under the cap for the copies it makes and the next pass of writes', () => {
  const copy = (file: string, hoursAgo: number, size: number): LogEntry =>
    entry(rotatedName(file, new Date(now - hoursAgo * HOUR)), size, hoursAgo);
  const old = copy('/l/access.log', 3, 10 * MB);
  const newer = copy('/l/access.log', 2, 10 * MB);
  const entries = [
    entry('/l/access.log', 10 * MB),
    entry('/l/app.log', 10 * MB),
    old,
    newer,
    copy('/l/app.log', 1, 10 * MB),
  ];
  const live = new Set(['/l/access.log', '/l/app.log']);
  // 50 MB exactly: counting no copy to make and nothing written, nothing has to go. to make and nothing written, nothing has to go.
  assert.deepEqual(planRotation(entries, live, settings, now).remove, []);
  // Nginx reopens access.log (renamed, no copy); app.log is copied, 10 MB more for a moment;
  // and room for the next pass's writes: twice the last pass's 3 MB, but at least a rotation's
  // 10 MB (load may start at any time).
  const renamed = new Set(['/l/access.log']);
  const plan = planRotation(entries, live, settings, now, { growth: 3 * MB, renamed });
  assert.deepEqual(plan.rotate, ['/l/access.log', '/l/app.log']);
  assert.deepEqual(plan.remove, [old.path, newer.path].sort());
  assert.deepEqual(plan.empty, []);
  // The reserve never empties a live file: only live files over the cap by themselves are.
  const small = planRotation([entry('/l/app.log', 45 * MB)], live, settings, now, {
    growth: 10 * MB,
    renamed,
  });
  assert.deepEqual(small.empty, []);
  // A host quiet until now, 2 MB under its cap: a rotation's room is made before load comes.
  const quiet = planRotation(
    [entry('/l/access.log', MB), old, newer, copy('/l/access.log', 1, 27 * MB)],
    live,
    settings,
    now,
    { growth: 0, renamed },
  );
  assert.deepEqual(quiet.remove, [old.path]);
});

it('empties the largest live file when live files alone are over the cap', () => {
  const plan = planRotation(
    [entry('/l/haproxy.log', 60 * MB), entry('/l/app.log', MB)],
    new Set(['/l/haproxy.log', '/l/app.log']),
    settings,
    now,
  );
  assert.deepEqual(plan, { rotate: [], remove: [], empty: ['/l/haproxy.log'] });
});

it('copies and truncates a file its writer keeps appending to, losing no later line', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-logs-'));
  try {
    const file = path.join(dir, 'out.log');
    writeFileSync(file, 'one\ntwo\n');
    const writer = openSync(file, 'a');
    await copyTruncate(file, `${file}.1`);
    writeSync(writer, 'three\n');
    closeSync(writer);
    assert.equal(readFileSync(`${file}.1`, 'utf8'), 'one\ntwo\n');
    // O_APPEND: the writer's next line starts the emptied file, with no hole before it.
    assert.equal(readFileSync(file, 'utf8'), 'three\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
