/**
 * After a change of primary, each machine's MariaDB unit (in the lab, the supervisor's record of
 * each server's start) names its server's new role, written without a restart, so that the next
 * `foobar up` finds nothing to change and restarts no server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Target } from '../../drivers/driver.ts';
import { RecordingDriver } from '../../drivers/recording.ts';
import { exampleModel } from '../../model/examples-testing.ts';
import { findHost } from '../../model/model.ts';
import { unitFor } from '../../platform/machines/supervisor.ts';
import { pidFileSupervisor, startRecordFile } from '../../platform/lab/supervisor.ts';
import { createContext } from '../context.ts';
import { ensureDaemon, writeFiles } from '../daemon.ts';
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

describe('in the lab: the record of each server’s start', () => {
  const labModel = exampleModel('foobar');

  /** db-01 and db-02 running as `up` started them (primary and replica), then the change. */
  async function labAfterChange(
    next: DbState,
  ): Promise<{ driver: RecordingDriver; notes: string[] }> {
    const driver = new RecordingDriver(() => undefined, { simulate: true });
    const ctx = createContext(labModel, driver);
    for (const name of ['db-01', 'db-02']) {
      const daemon = mariadbDaemon(ctx, findHost(labModel, name) ?? assert.fail(name), before);
      await writeFiles(ctx, name, daemon.files);
      await pidFileSupervisor.launch(ctx, daemon);
    }
    driver.calls.length = 0;
    return { driver, notes: await unitsFollowRoles(ctx, before, next) };
  }

  /** What the next `up` does to each server: nothing, as no record differs from its start. */
  async function nextUp(
    driver: RecordingDriver,
    state: DbState,
    names = ['db-01', 'db-02'],
  ): Promise<string[]> {
    const ctx = createContext(labModel, driver);
    return Promise.all(
      names.map((name) =>
        ensureDaemon(ctx, mariadbDaemon(ctx, findHost(labModel, name) ?? assert.fail(name), state)),
      ),
    );
  }

  const stopsOrStarts = (driver: RecordingDriver): string[] =>
    driver.calls.filter((call) => / spawn |\$ kill /.test(call));

  it('a promotion: the new primary’s record names the primary’s start, and up restarts nobody', async () => {
    const promoted: DbState = { primary: 'db-02', fenced: ['db-01'], epoch: 2, history: [] };
    const { driver, notes } = await labAfterChange(promoted);
    assert.deepEqual(notes, []);
    const ctx = createContext(labModel, driver);
    const db02 = mariadbDaemon(ctx, findHost(labModel, 'db-02') ?? assert.fail('db-02'), promoted);
    const record = driver.files.get(startRecordFile(db02))?.toString('utf8') ?? '';
    assert.doesNotMatch(record, /init-rpl-role/);
    // The fenced old primary's record is not touched.
    assert.ok(!driver.calls.some((call) => call.startsWith('[db-01]')), driver.calls.join('\n'));
    // Up leaves a fenced server stopped (the promotion killed it): the new primary is the question.
    assert.deepEqual(await nextUp(driver, promoted, ['db-02']), ['running']);
    assert.deepEqual(stopsOrStarts(driver), []);
  });

  it('a switchover: both servers’ records name their new roles, and up restarts neither', async () => {
    const switched: DbState = { primary: 'db-02', fenced: [], epoch: 2, history: [] };
    const { driver, notes } = await labAfterChange(switched);
    assert.deepEqual(notes, []);
    assert.deepEqual(await nextUp(driver, switched), ['running', 'running']);
    assert.deepEqual(stopsOrStarts(driver), []);
  });

  it('without the change recorded, up would restart both (what the records prevent)', async () => {
    const switched: DbState = { primary: 'db-02', fenced: [], epoch: 2, history: [] };
    const { driver } = await labAfterChange(before);
    assert.deepEqual(await nextUp(driver, switched), ['restarted', 'restarted']);
  });
});
