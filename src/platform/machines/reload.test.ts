import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command, Driver, ExecResult } from '../../drivers/driver.ts';
import { reloadSystemd } from './reload.ts';

/** A driver whose daemon-reloads take until `finish` is called, each one counted. */
function slowReloads(): { driver: Driver; started: () => number; finish: () => void } {
  let started = 0;
  const waiting: (() => void)[] = [];
  const driver = {
    exec(_host: string, command: Command): Promise<ExecResult> {
      assert.deepEqual(command.argv, ['systemctl', 'daemon-reload']);
      started++;
      return new Promise((resolve) =>
        waiting.push(() => {
          resolve({ stdout: '', stderr: '', exitCode: 0 });
        }),
      );
    },
  } as unknown as Driver;
  return {
    driver,
    started: () => started,
    finish: () => {
      for (const done of waiting.splice(0)) done();
    },
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('reloadSystemd', () => {
  it('runs one reload for the writers that ask before it starts, and one more for those who ask while it runs', async () => {
    const { driver, started, finish } = slowReloads();
    const first = [reloadSystemd(driver, 'web-01'), reloadSystemd(driver, 'web-01')];
    await tick();
    assert.equal(started(), 1);
    // Asked while it runs: it may not have read their files, so they wait for the next one.
    const second = [reloadSystemd(driver, 'web-01'), reloadSystemd(driver, 'web-01')];
    await tick();
    assert.equal(started(), 1);
    finish();
    await Promise.all(first);
    await tick();
    assert.equal(started(), 2);
    finish();
    await Promise.all(second);
    assert.equal(started(), 2);
  });

  it('keeps hosts apart', async () => {
    const { driver, started, finish } = slowReloads();
    const both = [reloadSystemd(driver, 'web-01'), reloadSystemd(driver, 'web-02')];
    await tick();
    assert.equal(started(), 2);
    finish();
    await Promise.all(both);
  });
});
