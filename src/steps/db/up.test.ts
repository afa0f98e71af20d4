import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { RecordingDriver } from '../../drivers/recording.ts';
import { buildModel } from '../../model/build.ts';
import { DEFAULT_APP_DIR } from '../../release/build.ts';
import { createContext } from '../context.ts';
import { runPlan } from '../plan.ts';
import { simulatedDatabases } from './simulate.ts';
import { databasePhase } from './up.ts';

it('installs the primary, then gives the replica a copy of its data and starts it as a replica', async () => {
  const model = buildModel({ lab: { stateDir: '/srv/lab' } });
  const driver = new RecordingDriver(simulatedDatabases(model), { simulate: true });
  const migrations = path.join(DEFAULT_APP_DIR, 'migrations');
  await runPlan([databasePhase(createContext(model, driver), () => Promise.resolve(migrations))]);
  const at = (line: string): number => {
    const index = driver.calls.indexOf(line);
    assert.ok(index >= 0, `not run: ${line}\n${driver.calls.join('\n')}`);
    return index;
  };
  const order = [
    at(
      '[db-01] $ mariadb-install-db --defaults-file=/srv/lab/hosts/db-01/etc/my.cnf --skip-test-db --auth-root-authentication-method=socket',
    ),
    at(
      '[db-01] spawn mariadbd --defaults-file=/srv/lab/hosts/db-01/etc/my.cnf >> /srv/lab/hosts/db-01/log/mariadb.log',
    ),
    at('[db-01] write /srv/lab/hosts/db-01/etc/admin.cnf (126 bytes, mode 600)'),
    // Streamed from db-01's host into db-02's, unpacked as it arrives.
    at(
      '[db-01] $ mariadb-backup --defaults-file=/srv/lab/hosts/db-01/etc/backup.cnf --backup --stream=mbstream | [db-02] $ mbstream -x -C /srv/lab/hosts/db-02/data/copy',
    ),
    at(
      '[db-02] $ mariadb-backup --no-defaults --prepare --target-dir=/srv/lab/hosts/db-02/data/copy',
    ),
    at('[db-02] $ mv -T -- /srv/lab/hosts/db-02/data/copy /srv/lab/hosts/db-02/data/mysql'),
    at(
      '[db-02] spawn mariadbd --defaults-file=/srv/lab/hosts/db-02/etc/my.cnf --init-rpl-role=SLAVE --skip-slave-start=OFF >> /srv/lab/hosts/db-02/log/mariadb.log',
    ),
  ];
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  );
  assert.ok(!driver.calls.some((line) => line.includes('[db-02] $ mariadb-install-db')));
});
