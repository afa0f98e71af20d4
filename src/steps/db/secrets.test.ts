/**
 * Secrets never reach a command line: every argv that `up` (its database phase included), a
 * forced promote and a rejoin run, recorded, holds none of the lab's generated secrets.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { RecordingDriver } from '../../drivers/recording.ts';
import { buildModel } from '../../model/build.ts';
import { labPaths } from '../../model/layout.ts';
import { createContext } from '../context.ts';
import { runPlan } from '../plan.ts';
import { upPlan } from '../up.ts';
import { promoteReplica, rejoin } from './changes.ts';
import { simulatedBackups } from '../backup.ts';
import { simulatedDatabases } from './simulate.ts';
import { allOf, simulatedKeepalived } from '../vrrp-simulate.ts';

const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-secrets-test-'));
after(() => fs.rm(scratch, { recursive: true, force: true }));

it('no argv of up, the database phase, promote or rejoin carries a secret', async () => {
  const model = buildModel({ lab: { stateDir: path.join(scratch, 'state') } });
  const databases = allOf(
    simulatedDatabases(model),
    simulatedKeepalived(model),
    simulatedBackups(),
  );
  // Once it rejoins, the old primary reports itself a replica of the new one.
  let rejoining = false;
  const replicaRow =
    '<resultset statement=""><row><field name="Master_Host">db-02</field>' +
    '<field name="Slave_IO_Running">Yes</field><field name="Slave_SQL_Running">Yes</field>' +
    '<field name="Seconds_Behind_Master">0</field><field name="Using_Gtid">Slave_Pos</field></row></resultset>';
  const driver = new RecordingDriver(
    (target, argv, input) =>
      rejoining && target === 'db-01' && input?.includes('SHOW SLAVE STATUS') === true
        ? { stdout: replicaRow, stderr: '', exitCode: 0 }
        : databases(target, argv, input),
    { simulate: true },
  );
  const ctx = createContext(model, driver);
  await runPlan(upPlan(ctx, { buildsDir: path.join(scratch, 'builds') }));
  const phases = { up: driver.calls.length, promote: 0, rejoin: 0 };
  await promoteReplica(ctx, 'db-02', { force: true });
  phases.promote = driver.calls.length;
  rejoining = true;
  await rejoin(ctx, 'db-01');
  phases.rejoin = driver.calls.length;

  const secretsDir = `${labPaths(model).secrets}/`;
  const secrets = [...driver.files]
    .filter(([file]) => file.startsWith(secretsDir))
    .map(([file, value]) => [file, value.toString('utf8').trim()] as const);
  // The database accounts' passwords at least, and each long enough to be unmistakable.
  assert.ok(secrets.length >= 4, secrets.map(([file]) => file).join(', '));
  for (const [file, value] of secrets) assert.ok(value.length >= 16, file);
  // Every command of each part ran (the parts are not empty), and none names a secret.
  assert.ok(phases.up > 100 && phases.promote > phases.up && phases.rejoin > phases.promote);
  assert.ok(
    driver.calls.some((line) => line.includes(' $ mariadb ')),
    'mariadb clients ran',
  );
  const leaks = driver.calls.flatMap((line, i) =>
    secrets
      .filter(([, value]) => line.includes(value))
      .map(([file]) => `call ${i} holds ${path.basename(file)}: ${line.slice(0, 80)}`),
  );
  assert.deepEqual(leaks, []);
});
