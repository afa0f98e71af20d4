/**
 * The lab's supervisor records what each daemon was started with, so `up` restarts a running
 * daemon whose command line or environment changed (as a changed unit does on machines), plans
 * that restart with the record's diff, and restarts nothing when nothing changed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlanningDriver } from '../../drivers/planning.ts';
import { RecordingDriver } from '../../drivers/recording.ts';
import { exampleModel } from '../../model/examples-testing.ts';
import { findHost } from '../../model/model.ts';
import { createContext, type Context } from '../../steps/context.ts';
import { ensureDaemon, type Daemon } from '../../steps/daemon.ts';
import { nodeExporterDaemon } from '../../steps/monitoring.ts';
import { startRecord, startRecordFile } from './supervisor.ts';

const model = exampleModel('foobar');

function lab(): { driver: RecordingDriver; ctx: Context; exporter: Daemon } {
  const driver = new RecordingDriver(() => undefined, { simulate: true });
  const ctx = createContext(model, driver);
  const host = findHost(model, 'web-01') ?? assert.fail('web-01');
  return { driver, ctx, exporter: nodeExporterDaemon(ctx, host) };
}

/** `up --plan`'s view of ensureDaemon: what it would do, and the changes it records. */
async function plan(
  ctx: Context,
  daemon: Daemon,
): Promise<{ outcome: string; changes: PlanningDriver['changes'] }> {
  const planning = new PlanningDriver(ctx.driver);
  const outcome = await ensureDaemon({ ...createContext(model, planning), planning }, daemon);
  return { outcome, changes: planning.changes };
}

const spawns = (driver: RecordingDriver): string[] =>
  driver.calls.filter((call) => call.includes(' spawn '));

describe('the lab supervisor’s record of each start', () => {
  it('is written at the start; up with nothing changed restarts nothing and plans nothing', async () => {
    const { driver, ctx, exporter } = lab();
    assert.equal(await ensureDaemon(ctx, exporter), 'started');
    const record = driver.files.get(startRecordFile(exporter))?.toString('utf8');
    assert.equal(record, startRecord(exporter));
    assert.match(record, /"GOGC": "50"/);
    assert.deepEqual(await plan(ctx, exporter), { outcome: 'running', changes: [] });
    driver.calls.length = 0;
    assert.equal(await ensureDaemon(ctx, exporter), 'running');
    assert.deepEqual(
      driver.calls.filter((call) => / (spawn|write) |\$ kill /.test(call)),
      [],
    );
  });

  it('a new flag on the command line: up --plan says restart and shows it, up restarts onto it', async () => {
    const { driver, ctx, exporter } = lab();
    await ensureDaemon(ctx, exporter);
    const flagged: Daemon = {
      ...exporter,
      start: { argv: [...exporter.start.argv, '--collector.textfile.directory=/elsewhere'] },
    };
    const planned = await plan(ctx, flagged);
    assert.equal(planned.outcome, 'restarted');
    assert.deepEqual(
      planned.changes.filter((c) => c.kind === 'action'),
      [{ kind: 'action', target: 'web-01', what: 'node-exporter: restart' }],
    );
    const diff = planned.changes.find((c) => c.kind === 'file');
    assert.ok(diff?.kind === 'file' && diff.path === startRecordFile(exporter), 'the record');
    assert.match(diff.diff, /^\+ {4}"--collector\.textfile\.directory=\/elsewhere"$/m);
    assert.equal(
      driver.files.get(startRecordFile(exporter))?.toString('utf8'),
      startRecord(exporter),
    );
    driver.calls.length = 0;
    assert.equal(await ensureDaemon(ctx, flagged), 'restarted');
    assert.equal(spawns(driver).length, 1);
    assert.match(spawns(driver)[0] ?? '', /--collector\.textfile\.directory=\/elsewhere/);
    assert.equal(await ensureDaemon(ctx, flagged), 'running');
  });

  it('a change of environment restarts it too; the order of its variables does not', async () => {
    const { driver, ctx, exporter } = lab();
    await ensureDaemon(ctx, exporter);
    const tuned: Daemon = { ...exporter, env: { GOMAXPROCS: '1', ...exporter.env } };
    assert.equal((await plan(ctx, tuned)).outcome, 'restarted');
    driver.calls.length = 0;
    assert.equal(await ensureDaemon(ctx, tuned), 'restarted');
    assert.equal(spawns(driver).length, 1);
    const reordered: Daemon = { ...exporter, env: { ...exporter.env, GOMAXPROCS: '1' } };
    assert.equal(await ensureDaemon(ctx, reordered), 'running');
  });

  it('a daemon started before records were kept is left running, and recorded as described', async () => {
    const { driver, ctx, exporter } = lab();
    await ensureDaemon(ctx, exporter);
    driver.files.delete(startRecordFile(exporter));
    // The plan neither restarts it nor shows a record it would write.
    assert.deepEqual(await plan(ctx, exporter), { outcome: 'running', changes: [] });
    driver.calls.length = 0;
    assert.equal(await ensureDaemon(ctx, exporter), 'running');
    assert.deepEqual(spawns(driver), []);
    assert.equal(
      driver.files.get(startRecordFile(exporter))?.toString('utf8'),
      startRecord(exporter),
    );
  });
});
