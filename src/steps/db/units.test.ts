/**
 * After a change of primary, each machine's MariaDB unit names its server's new role, written
 * without a restart, so that the next `foobar up` finds nothing to change and restarts no server.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Target } from '../../drivers/driver.ts';
import { RecordingDriver } from '../../drivers/recording.ts';
import { exampleModel } from '../../model/examples-testing.ts';
import { findHost } from '../../model/model.ts';
import { unitFor } from '../../platform/machines/supervisor.ts';
import { createContext } from '../context.ts';
import { mariadbDaemon } from '../services.ts';
import { unitsFollowRoles } from './changes.ts';
import type { DbState } from './state.ts';

/** Files kept per machine (the same drop-in path on every database server). */
class Machines extends RecordingDriver {
  readonly stored = new Map<string, string>();
  override writeFile(target: Target, file: string, content: string | Uint8Array): Promise<void> {
    this.stored.set(`${target ?? ''} ${file}`, Buffer.from(content).toString('utf8'));
    return super.writeFile(target, file, content);
  }
  override readFile(target: Target, file: string): Promise<string | undefined> {
    return Promise.resolve(this.stored.get(`${target ?? ''} ${file}`));
  }
}

const model = exampleModel('machines');
const before: DbState = { primary: 'db-01', fenced: [], epoch: 1, history: [] };

async function afterChange(next: DbState): Promise<{ driver: Machines; notes: string[] }> {
  const driver = new Machines(() => undefined, { simulate: true });
  const ctx = createContext(model, driver);
  // As `up` left them: db-01's unit for the primary, db-02's for a replica.
  for (const name of ['db-01', 'db-02']) {
    const unit = unitFor(mariadbDaemon(ctx, findHost(model, name) ?? assert.fail(name), before));
    await driver.writeFile(name, unit.path, unit.content);
  }
  driver.calls.length = 0;
  return { driver, notes: await unitsFollowRoles(ctx, before, next) };
}

function unitOn(driver: Machines, name: string, state: DbState): { now?: string; wanted: string } {
  const ctx = createContext(model, driver);
  const unit = unitFor(mariadbDaemon(ctx, findHost(model, name) ?? assert.fail(name), state));
  return { now: driver.stored.get(`${name} ${unit.path}`), wanted: unit.content };
}

const restarts = (driver: Machines): string[] =>
  driver.calls.filter((call) => /systemctl (start|stop|restart|unmask)/.test(call));

it('a promotion: the new primary’s unit names the primary’s role, the fenced one keeps its own', async () => {
  const promoted: DbState = { primary: 'db-02', fenced: ['db-01'], epoch: 2, history: [] };
  const { driver, notes } = await afterChange(promoted);
  assert.deepEqual(notes, []);
  const db02 = unitOn(driver, 'db-02', promoted);
  assert.equal(db02.now, db02.wanted, 'the next up finds db-02’s unit as it would write it');
  assert.doesNotMatch(db02.now ?? '', /init-rpl-role/);
  // The fenced old primary: untouched, never unmasked.
  const db01 = unitOn(driver, 'db-01', before);
  assert.equal(db01.now, db01.wanted);
  assert.ok(!driver.calls.some((call) => call.startsWith('[db-01]')), driver.calls.join('\n'));
  assert.deepEqual(restarts(driver), []);
});

it('a switchover: both servers’ units name their new roles, and neither is restarted', async () => {
  const switched: DbState = { primary: 'db-02', fenced: [], epoch: 2, history: [] };
  const { driver, notes } = await afterChange(switched);
  assert.deepEqual(notes, []);
  for (const name of ['db-01', 'db-02']) {
    const unit = unitOn(driver, name, switched);
    assert.equal(unit.now, unit.wanted, name);
  }
  assert.match(unitOn(driver, 'db-01', switched).now ?? '', /--init-rpl-role=SLAVE/);
  assert.ok(driver.calls.some((call) => call.includes('daemon-reload')));
  assert.deepEqual(restarts(driver), []);
});
