import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RecordingDriver } from './recording.ts';
import { limitedDriver } from './limited.ts';

describe('limitedDriver', () => {
  it('runs at most `limit` commands at once, and every one of them', async () => {
    const inner = new RecordingDriver();
    let running = 0;
    let most = 0;
    const exec = inner.exec.bind(inner);
    inner.exec = async (target, command, options) => {
      running++;
      most = Math.max(most, running);
      await sleep(5);
      running--;
      return exec(target, command, options);
    };
    const driver = limitedDriver(inner, 3);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => driver.exec('web-01', { argv: ['true', String(i)] })),
    );
    assert.equal(most, 3);
    assert.equal(inner.calls.length, 10);
  });
});
