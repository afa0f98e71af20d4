import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { HostsDriver } from '../../drivers/hosts-testing.ts';
import { labPaths, sharedState } from '../../model/layout.ts';
import { createContext } from '../context.ts';
import { readDbState, writeDbState, type DbState } from './state.ts';
import { exampleModel } from '../../model/examples-testing.ts';

const machines = exampleModel('machines');

const promoted: DbState = {
  primary: 'db-02',
  fenced: ['db-01'],
  epoch: 3,
  history: [],
};

describe('database.json on machines', () => {
  it('lives beside the lock on the monitor, where every operator and manager reads it', async () => {
    const driver = new HostsDriver();
    const ctx = createContext(machines, driver);
    await writeDbState(ctx, promoted);
    const shared = sharedState(machines);
    assert.equal(shared.host, 'mon');
    assert.deepEqual(JSON.parse((await driver.readFile('mon', shared.database)) ?? ''), promoted);
    assert.deepEqual(await readDbState(ctx), promoted);
  });

  it('one an older foobar left on this machine is read, moved to the monitor, and deleted here', async () => {
    const driver = new HostsDriver();
    const ctx = createContext(machines, driver);
    const old = path.join(labPaths(machines).state, 'database.json');
    await driver.writeFile(null, old, JSON.stringify(promoted));
    // Without it, a fresh site would start from the configured primary (db-01) and lose the promotion.
    assert.deepEqual(await readDbState(ctx), promoted);
    const shared = sharedState(machines);
    assert.deepEqual(JSON.parse((await driver.readFile('mon', shared.database)) ?? ''), promoted);
    assert.equal(await driver.readFile(null, old), undefined);
    // The shared copy wins from then on: a second read does not look here again.
    assert.deepEqual(await readDbState(ctx), promoted);
  });

  it('a site with neither starts from the configured primary', async () => {
    const state = await readDbState(createContext(machines, new HostsDriver()));
    assert.equal(state.primary, machines.database.initialPrimary);
    assert.deepEqual(state.fenced, []);
    assert.equal(state.epoch, 1);
  });
});
