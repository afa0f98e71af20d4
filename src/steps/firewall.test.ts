import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandFailedError } from '../drivers/driver.ts';
import { RecordingDriver } from '../drivers/recording.ts';
import { findHost } from '../model/model.ts';
import { createContext } from './context.ts';
import type { DbState } from './db/state.ts';
import { ensureFirewall } from './firewall.ts';
import { exampleModel } from '../model/examples-testing.ts';

const model = exampleModel('machines');
const web = findHost(model, 'web-01');
const state: DbState = { primary: 'db-02', fenced: ['db-01'], epoch: 2, history: [] };

/** A driver whose `nft -f` exits with each of `exits` in turn (then 0), counting the calls. */
function nftExiting(exits: number[]): { driver: RecordingDriver; applies: () => number } {
  let applies = 0;
  const driver = new RecordingDriver((_target, argv) => {
    if (argv[0] !== 'nft' || argv[1] !== '-f') return undefined;
    applies++;
    return { stdout: '', stderr: '', exitCode: exits.shift() ?? 0 };
  });
  return { driver, applies: () => applies };
}

describe('a firewall change on the failover path', () => {
  it('is applied again over a new connection when its own ended under it (ssh exit 255)', async () => {
    assert.ok(web !== undefined);
    const { driver, applies } = nftExiting([255]);
    const outcome = await ensureFirewall(createContext(model, driver), web, state, { fast: true });
    assert.equal(outcome, 'rules updated');
    assert.equal(applies(), 2);
  });

  it('fails at once, naming the host and the command, when nft itself refuses', async () => {
    assert.ok(web !== undefined);
    const { driver, applies } = nftExiting([1]);
    await assert.rejects(
      ensureFirewall(createContext(model, driver), web, state, { fast: true }),
      (error: unknown) => {
        assert.ok(error instanceof CommandFailedError);
        assert.match(error.message, /^web-01: nft -f \S+nftables\.conf failed \(exit 1\)/);
        return true;
      },
    );
    assert.equal(applies(), 1);
  });

  it('is not applied when the rules did not change', async () => {
    assert.ok(web !== undefined);
    const { driver, applies } = nftExiting([]);
    const ctx = createContext(model, driver);
    await ensureFirewall(ctx, web, state, { fast: true });
    assert.equal(await ensureFirewall(ctx, web, state, { fast: true }), 'up to date');
    assert.equal(applies(), 1);
  });
});
