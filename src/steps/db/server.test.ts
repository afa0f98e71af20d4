import assert from 'node:assert/strict';
import { it } from 'node:test';
import { RecordingDriver, type Responder } from '../../drivers/recording.ts';
import { buildModel } from '../../model/build.ts';
import { createContext } from '../context.ts';
import { copyDataDir, readOrigin } from './server.ts';
import { simulatedDatabases } from './simulate.ts';

const model = buildModel({ lab: { stateDir: '/srv/lab' } });

it('copies a replica with its SQL thread paused (--safe-slave-backup), streamed into the other host', async () => {
  const driver = new RecordingDriver(simulatedDatabases(model), { simulate: true });
  const ctx = createContext(model, driver);
  await copyDataDir(ctx, 'db-01', 'db-02');
  assert.ok(
    driver.calls.includes(
      '[db-02] $ mariadb-backup --defaults-file=/srv/lab/hosts/db-02/etc/backup.cnf --backup --safe-slave-backup --stream=mbstream | [db-01] $ mbstream -x -C /srv/lab/hosts/db-01/data/copy',
    ),
    driver.calls.join('\n'),
  );
  assert.equal((await readOrigin(ctx, 'db-01'))?.from, 'db-02');
  const log = driver.files.get('/srv/lab/hosts/db-01/log/mariadb-seed.log')?.toString() ?? '';
  assert.match(log, /^db-02: mariadb-backup .* --stream=mbstream: exit 0$/m);
  assert.match(log, /^db-01: mbstream -x -C \/srv\/lab\/hosts\/db-01\/data\/copy: exit 0$/m);
  assert.match(log, /^0 B in \d+\.\d s$/m);
});

it('a side that fails leaves no copy and no origin, and says which side and why', async () => {
  const databases = simulatedDatabases(model);
  const respond: Responder = (target, argv, input) =>
    argv[0] === 'mbstream'
      ? { stdout: '', stderr: 'mbstream: failed to write: No space left on device\n', exitCode: 1 }
      : databases(target, argv, input);
  const driver = new RecordingDriver(respond, { simulate: true });
  const ctx = createContext(model, driver);
  await assert.rejects(
    copyDataDir(ctx, 'db-02', 'db-01'),
    new Error(
      [
        "db-02: copying db-01's data failed; the output of both sides is in /srv/lab/hosts/db-02/log/mariadb-seed.log:",
        'streaming from db-01 to db-02 failed after 0 B:',
        'db-02: mbstream -x -C /srv/lab/hosts/db-02/data/copy failed (exit 1):',
        'mbstream: failed to write: No space left on device',
      ].join('\n'),
    ),
  );
  const piped = driver.calls.findIndex((line) => line.includes('| [db-02] $ mbstream'));
  assert.ok(piped >= 0);
  assert.ok(
    driver.calls.slice(piped).includes('[db-02] remove /srv/lab/hosts/db-02/data/copy'),
    'the partial copy is removed',
  );
  assert.equal(await readOrigin(ctx, 'db-02'), undefined);
  assert.ok(!driver.calls.some((line) => line.includes('--prepare')));
  const log = driver.files.get('/srv/lab/hosts/db-02/log/mariadb-seed.log')?.toString() ?? '';
  assert.match(
    log,
    /^db-02: mbstream .*: exit 1\nmbstream: failed to write: No space left on device$/m,
  );
});
