import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLogCap, isHostLog, written } from './logcap.ts';

const entry = (file: string, size: number) => ({ path: file, size, mtimeMs: 0, birthMs: 0 });

describe('logs over a bench run', () => {
  it('counts what the live files got: growth, and all of a file that shrank (rotated meanwhile)', () => {
    const live = new Set(['/log/haproxy.log', '/log/access.log']);
    const before = new Map([
      ['/log/haproxy.log', 1000],
      ['/log/access.log', 5000],
    ]);
    const now = [
      // Grew by 500.
      entry('/log/haproxy.log', 1500),
      // Copied and truncated, then 300 written.
      entry('/log/access.log', 300),
      // A rotated copy is not written to: not counted.
      entry('/log/access.log.20261205T100000000Z', 5200),
      // A live file new since the last sample: all of it.
      entry('/log/new.log', 70),
    ];
    assert.equal(written(before, now, new Set([...live, '/log/new.log'])), 500 + 300 + 70);
  });

  it('says whether every host stayed under its cap, the busiest first', () => {
    const text = formatLogCap({
      capMb: 50,
      seconds: 600,
      samples: 601,
      hosts: [
        { host: 'web-01', peakMb: 12, endMb: 10, writtenMb: 300 },
        { host: 'lb-01', peakMb: 51, endMb: 40, writtenMb: 900 },
      ],
      met: false,
    });
    assert.match(text, /10\.0 min, 601 samples/);
    assert.ok(text.indexOf('lb-01') < text.indexOf('web-01'));
    assert.match(text, /at every sample: NOT met$/);
  });

  it('counts the host’s own logs, live and rotated, not a bench copy’s beside them', () => {
    const live = new Set(['/log/haproxy.log']);
    assert.equal(isHostLog('/log/haproxy.log', live), true);
    assert.equal(isHostLog('/log/haproxy.log.20261205T100000000Z', live), true);
    assert.equal(isHostLog('/log/haproxy-bare.log', live), false);
  });
});
