import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formatTimings, upSummary } from './commands.ts';

it('reads the time and the slowest phases that `foobar up` ends with', () => {
  const stdout = [
    'Monitoring sees',
    '  ✔ every Prometheus target up: all up (31 targets) 1.2 s',
    '',
    'up: 11.0 s; slowest: Databases 3.1 s (db-02), Monitoring sees 1.2 s (every Prometheus target up)',
    '',
    'https://www.foobar.com/ is up',
  ].join('\n');
  assert.equal(
    upSummary(stdout),
    '11.0 s; slowest: Databases 3.1 s (db-02), Monitoring sees 1.2 s (every Prometheus target up)',
  );
  assert.equal(upSummary('Preflight\n  ✖ this machine: not root\n'), undefined);
});

it('prints min, median and max with the load average, then what each run said', () => {
  const text = formatTimings([
    {
      command: 'foobar up (cold, packages present)',
      runs: [12.5, 11, 14],
      min: 11,
      median: 12.5,
      max: 14,
      load: [3.25, 4.5],
      notes: ['12.1 s; slowest: Databases 3.1 s (db-02)', '10.6 s', '13.6 s'],
    },
  ]);
  const lines = text.split('\n');
  assert.match(
    lines[1] ?? '',
    /^foobar up \(cold, packages present\) +11\.00 +12\.50 +14\.00 +\(3 runs, load average 3\.3 → 4\.5\)$/,
  );
  assert.equal(
    lines[2],
    'foobar up (cold, packages present), run 1: 12.1 s; slowest: Databases 3.1 s (db-02)',
  );
  assert.equal(lines.length, 5);
});

it('prints a run before the timed ones apart, not counted', () => {
  const text = formatTimings([
    {
      command: 'foobar up (nothing to do)',
      runs: [0.7, 0.8, 0.75],
      min: 0.7,
      median: 0.75,
      max: 0.8,
      load: [2, 2],
      warmup: 1.784,
    },
  ]);
  assert.deepEqual(text.split('\n').slice(2), [
    'foobar up (nothing to do), a first run before these, not counted: 1.78 s',
  ]);
});
