import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordingDriver } from '../../drivers/recording.ts';
import { findHost } from '../../model/model.ts';
import { createContext } from '../../steps/context.ts';
import { appDaemon, mariadbDaemon, nginxDaemon } from '../../steps/services.ts';
import { systemdSupervisor, unitFor } from './supervisor.ts';
import { exampleModel } from '../../model/examples-testing.ts';

const model = exampleModel('machines');

describe('the systemd supervisor', () => {
  it('writes the unit before every start: a deploy starts the standby slot with the new release', async () => {
    const driver = new RecordingDriver((_target, argv) =>
      argv[1] === 'is-enabled' ? { stdout: 'disabled\n', stderr: '', exitCode: 1 } : undefined,
    );
    const ctx = createContext(model, driver);
    const web = findHost(model, 'web-01');
    assert.ok(web !== undefined);
    // The slot ran release r1 once; a deploy now starts it with r2, without an `up` in between.
    const before = appDaemon(ctx, web, 'green', 'r1');
    await systemdSupervisor.install(ctx, before);
    const next = appDaemon(ctx, web, 'green', 'r2');
    const file = unitFor(next).path;
    driver.calls.length = 0;
    await systemdSupervisor.launch(ctx, next);
    const unit = driver.files.get(file)?.toString('utf8') ?? '';
    assert.match(unit, /^ExecStart=.*\/srv\/foobar\/releases\/r2\/server\.mjs$/m);
    const reload = driver.calls.indexOf('[web-01] $ systemctl daemon-reload');
    const enable = driver.calls.indexOf(
      '[web-01] $ env SYSTEMCTL_SKIP_SYSV=1 systemctl enable --quiet --no-reload foobar-app-green.service',
    );
    const start = driver.calls.indexOf('[web-01] $ systemctl start foobar-app-green.service');
    assert.ok(reload >= 0 && enable > reload && start > enable, driver.calls.join('\n'));
  });

  it('disables what it stops, so a reboot brings back only what runs', async () => {
    const driver = new RecordingDriver();
    const ctx = createContext(model, driver);
    const web = findHost(model, 'web-01');
    assert.ok(web !== undefined);
    await systemdSupervisor.stop(ctx, appDaemon(ctx, web, 'blue', 'r1'), 10_000);
    assert.ok(
      driver.calls.includes(
        '[web-01] $ env SYSTEMCTL_SKIP_SYSV=1 systemctl disable --quiet --no-reload foobar-app-blue.service',
      ),
      driver.calls.join('\n'),
    );
  });

  it('stops a host’s daemons in one batch: one state, one stop of what runs, one disable of what is enabled', async () => {
    const web = findHost(model, 'web-01');
    assert.ok(web !== undefined);
    const blocks = [
      'MainPID=4242\nActiveState=active\nSubState=running\nLoadState=loaded\nUnitFileState=enabled',
      // A slot never installed: asking systemd to stop or disable it would fail the call.
      'MainPID=0\nActiveState=inactive\nSubState=dead\nLoadState=not-found\nUnitFileState=',
      // Stopped, still enabled: nothing to stop, but a reboot must not bring it back.
      'MainPID=0\nActiveState=inactive\nSubState=dead\nLoadState=loaded\nUnitFileState=enabled',
    ];
    const driver = new RecordingDriver((_target, argv) =>
      argv[1] === 'show'
        ? { stdout: `${blocks.join('\n\n')}\n`, stderr: '', exitCode: 0 }
        : undefined,
    );
    const ctx = createContext(model, driver);
    const daemons = [
      appDaemon(ctx, web, 'blue', 'r1'),
      appDaemon(ctx, web, 'green', 'r1'),
      nginxDaemon(ctx, web, 'blue'),
    ];
    const ran = await systemdSupervisor.stopMany?.(ctx, 'web-01', daemons, 10_000);
    assert.deepEqual(ran, [true, false, false]);
    assert.deepEqual(
      driver.calls.filter((call) => call.includes('systemctl')),
      [
        '[web-01] $ systemctl show --property=MainPID,ActiveState,SubState,LoadState,UnitFileState foobar-app-blue.service foobar-app-green.service nginx.service',
        '[web-01] $ systemctl stop foobar-app-blue.service',
        '[web-01] $ env SYSTEMCTL_SKIP_SYSV=1 systemctl disable --quiet --no-reload foobar-app-blue.service nginx.service',
      ],
    );
  });

  it("makes MariaDB's run directory (the mysql user's) before every start, as a boot empties /run; a replica resumes replicating", () => {
    const ctx = createContext(model, new RecordingDriver());
    const db = findHost(model, 'db-02');
    assert.ok(db !== undefined);
    const state = { primary: 'db-01', fenced: [], epoch: 1, history: [] };
    const unit = unitFor(mariadbDaemon(ctx, db, state)).content;
    assert.match(
      unit,
      /^ExecStartPre=\+\/usr\/bin\/install -d -o mysql -g mysql \/run\/foobar\/mysqld$/m,
    );
    // A replica started by the boot (or systemd's restart) resumes replicating by itself.
    assert.match(unit, /^ExecStart=mariadbd .* --init-rpl-role=SLAVE --skip-slave-start=OFF$/m);
  });

  it("asks every unit's state of a host in one systemctl show, and reads each block in order", async () => {
    const answer = [
      'MainPID=687\nActiveState=active\nSubState=running',
      // A unit systemd does not know: its block says so, in its place.
      'MainPID=0\nActiveState=inactive\nSubState=dead',
      'MainPID=901\nActiveState=reloading\nSubState=reload',
      'MainPID=77\nActiveState=deactivating\nSubState=stop-sigterm',
    ].join('\n\n');
    const driver = new RecordingDriver((_target, argv) =>
      argv[1] === 'show' ? { stdout: `${answer}\n`, stderr: '', exitCode: 0 } : undefined,
    );
    const ctx = createContext(model, driver);
    const web = findHost(model, 'web-01');
    assert.ok(web !== undefined && systemdSupervisor.mainPids !== undefined);
    const daemons = [
      appDaemon(ctx, web, 'blue', 'r1'),
      appDaemon(ctx, web, 'green', 'r1'),
      appDaemon(ctx, web, 'blue', 'r2'),
      appDaemon(ctx, web, 'green', 'r2'),
    ];
    assert.deepEqual(await systemdSupervisor.mainPids(ctx, 'web-01', daemons), [
      687,
      undefined,
      901,
      undefined,
    ]);
    assert.deepEqual(driver.calls, [
      '[web-01] $ systemctl show --property=MainPID,ActiveState,SubState foobar-app-blue.service foobar-app-green.service foobar-app-blue.service foobar-app-green.service',
    ]);
    // An answer that does not match the question is an error, never a PID given to another unit.
    await assert.rejects(
      systemdSupervisor.mainPids(ctx, 'web-01', daemons.slice(0, 3)),
      /systemctl show of 3 units gave 4 answers/,
    );
  });
});
