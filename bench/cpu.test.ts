import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { statTicks } from './cpu.ts';

it('reads utime + stime from a /proc/PID/stat line, whatever the command name holds', () => {
  // Fields 14 and 15 are 1234 and 56; a command name with spaces and parentheses shifts nothing.
  const line =
    '4242 (haproxy (x) y) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 56 0 0 20 0 3 0 100 0 0';
  assert.equal(statTicks(line), 1290);
});

it("reads this process's own stat", () => {
  const ticks = statTicks(readFileSync('/proc/self/stat', 'utf8'));
  assert.ok(Number.isInteger(ticks) && ticks >= 0, String(ticks));
});
