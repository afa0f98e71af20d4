/**
 * `db restore --to HOST` through a recording driver on a simulated lab: what is refused (nothing
 * done then), and the order of the steps for a replica and for the live primary (--force).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ExecResult } from '../../drivers/driver.ts';
import { RecordingDriver } from '../../drivers/recording.ts';
import { buildModel } from '../../model/build.ts';
import { failoverKeys } from '../../model/failover.ts';
import type { FullBackup, RecoveryPlan } from '../../backup/catalog.ts';
import { simulatedBackups } from '../backup.ts';
import { createContext, type Context } from '../context.ts';
import { runPlan } from '../plan.ts';
import { upPlan } from '../up.ts';
import { allOf, simulatedKeepalived } from '../vrrp-simulate.ts';
import { ChangeRefused, rejoin } from './changes.ts';
import { dbFiles } from './server.ts';
import { formatHostRestore, restoreToHost } from './restore.ts';
import { simulatedDatabases } from './simulate.ts';
import { readDbState, roleOf, writeDbState } from './state.ts';
import { dbStatus } from './status.ts';
import { appDbFiles } from './topology.ts';

const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-restore-test-'));
after(() => fs.rm(scratch, { recursive: true, force: true }));

const ok = (stdout: string): ExecResult => ({ stdout, stderr: '', exitCode: 0 });
const xml = (row: Record<string, string>): ExecResult =>
  ok(
    `<resultset statement=""><row>${Object.entries(row)
      .map(([k, v]) => `<field name="${k}">${v}</field>`)
      .join('')}</row></resultset>`,
  );

const BACKUP: FullBackup = {
  kind: 'full',
  id: '20261204T090000Z-db-02',
  source: 'db-02',
  startedAt: '2026-12-04T09:00:00.000Z',
  finishedAt: '2026-12-04T09:00:05.000Z',
  gtid: '0-31-100',
  file: 'x.mbstream.zst.aes',
  sealed: { bytes: 1000, plainBytes: 5000, sha256: '', iv: '', tag: '' },
};
const PLAN: RecoveryPlan = { backup: BACKUP, binlogs: [], reaches: '0-31-120' };

interface Lab {
  readonly ctx: Context;
  readonly recording: RecordingDriver;
  /** etcd's keys, as the simulated gateway holds them. */
  readonly etcd: Map<string, string>;
  /** Commands (by a part of their line, on any host) that fail from now on. */
  readonly failing: Set<string>;
}

async function simulatedLab(name: string): Promise<Lab> {
  const model = buildModel({ lab: { stateDir: path.join(scratch, name, 'state') } });
  const etcd = new Map<string, string>();
  const failing = new Set<string>();
  const databases = allOf(
    simulatedDatabases(model),
    simulatedKeepalived(model),
    simulatedBackups(),
  );
  const recording = new RecordingDriver(
    (target, argv, input) => {
      const line = `[${target ?? 'local'}] ${argv.join(' ')}`;
      if ([...failing].some((part) => line.includes(part)))
        return { stdout: '', stderr: 'simulated failure', exitCode: 1 };
      const url = argv.at(-1) ?? '';
      if (argv[0] === 'curl' && url.includes('/v3/kv/')) {
        const body = JSON.parse(input ?? '{}') as { key?: string; value?: string };
        const key = Buffer.from(body.key ?? '', 'base64').toString();
        if (url.endsWith('/put')) etcd.set(key, Buffer.from(body.value ?? '', 'base64').toString());
        if (url.endsWith('/deleterange')) etcd.delete(key);
        const value = etcd.get(key);
        const answer =
          url.endsWith('/range') && value !== undefined
            ? {
                kvs: [
                  {
                    key: body.key,
                    value: Buffer.from(value).toString('base64'),
                    mod_revision: '1',
                    create_revision: '1',
                    version: '1',
                  },
                ],
              }
            : {};
        return ok(`${JSON.stringify(answer)}\n200 0.001`);
      }
      if (argv.includes('plan') && argv.some((a) => a.endsWith('main.ts') || a.endsWith('.mjs')))
        return ok(JSON.stringify(PLAN));
      if (input?.includes('@@gtid_binlog_pos AS pos') === true) return xml({ pos: '0-31-120' });
      if (input?.includes('@@global.gtid_binlog_state AS binlog_state') === true)
        return xml({
          read_only: target === 'db-01' ? '0' : '1',
          binlog_pos: '0-31-130',
          binlog_state: '0-32-40,0-31-130',
          slave_pos: '',
          semi_enabled: '0',
          semi_status: 'OFF',
          semi_clients: '0',
        });
      return databases(target, argv, input);
    },
    { simulate: true },
  );
  const ctx = createContext(model, recording);
  await runPlan(upPlan(ctx, { buildsDir: path.join(scratch, name, 'builds') }));
  return { ctx, recording, etcd, failing };
}

/** The index of the first call from `from` on that matches, or -1. */
function indexOf(calls: readonly string[], pattern: RegExp, from = 0): number {
  const i = calls.slice(from).findIndex((c) => pattern.test(c));
  return i === -1 ? -1 : i + from;
}

const at = 'time=2026-12-04T09:10:00.000Z';

/** `db restore --at <at> --to <to>`, its progress and log dropped. */
function restoreQuietly(ctx: Context, to: string, force = false): ReturnType<typeof restoreToHost> {
  return restoreToHost(ctx, {
    target: at,
    to,
    force,
    progress: () => undefined,
    log: () => undefined,
  });
}

describe('db restore --to HOST', { timeout: 300_000 }, () => {
  let lab: Lab;
  before(async () => {
    lab = await simulatedLab('lab');
  });

  it('refuses the live primary without --force, and a fenced server, before doing anything', async () => {
    const { ctx, recording } = lab;
    const from = recording.calls.length;
    await assert.rejects(
      restoreQuietly(ctx, 'db-01'),
      (error: Error) =>
        error instanceof ChangeRefused &&
        /db-01 is the live primary: .*add --force/.test(error.message),
    );
    const state = await readDbState(ctx);
    await writeDbState(ctx, { ...state, fenced: ['db-02'] });
    await assert.rejects(
      restoreQuietly(ctx, 'db-02'),
      (error: Error) => error instanceof ChangeRefused && error.message.includes('db-02 is fenced'),
    );
    await writeDbState(ctx, state);
    await assert.rejects(restoreQuietly(ctx, 'web-01'), /"web-01" is not a database host/);
    const done = recording.calls.slice(from);
    assert.deepEqual(
      done.filter((c) => /mariadb-backup|mbstream|kill |mv -T|backup\/main|backup\.mjs/.test(c)),
      [],
      'nothing was restored, stopped or moved',
    );
  });

  it('a replica: restored on the scratch server, streamed in while it runs, stopped, swapped (old data aside), started, not replicating', async () => {
    const { ctx, recording } = lab;
    const from = recording.calls.length;
    const logged: string[] = [];
    const report = await restoreToHost(ctx, {
      target: at,
      to: 'db-02',
      progress: () => undefined,
      log: (line) => logged.push(line),
    });
    const calls = recording.calls;
    const files = dbFiles(ctx, 'db-02');
    const replay = indexOf(calls, /\[backup\] .* replay /, from);
    const stream = indexOf(
      calls,
      /^\[backup\] \$ mariadb-backup --defaults-file=\S*restore\S*my\.cnf --socket=\S+ --user=root --backup --stream=mbstream \| \[db-02\] \$ mbstream -x/,
      from,
    );
    const prepare = indexOf(calls, /^\[db-02\] \$ mariadb-backup --no-defaults --prepare/, from);
    const stop = indexOf(calls, /^\[db-02\] \$ kill -s TERM/, from);
    const aside = indexOf(
      calls,
      new RegExp(`^\\[db-02\\] \\$ mv -T -- ${files.datadir} \\S+before-restore-`),
      from,
    );
    const swap = indexOf(
      calls,
      new RegExp(`^\\[db-02\\] \\$ mv -T -- \\S+/copy ${files.datadir}`),
      from,
    );
    const start = indexOf(calls, /^\[db-02\] spawn mariadbd/, swap);
    const spawned = calls.at(start) ?? '';
    assert.ok(
      spawned.includes('--init-rpl-role=SLAVE') && !spawned.includes('--skip-slave-start=OFF'),
      `started without replicating: ${spawned}`,
    );
    const reset = indexOf(calls, /^\[db-02\] .*mariadb/, start);
    assert.ok(
      replay >= 0 &&
        replay < stream &&
        stream < prepare &&
        prepare < stop &&
        stop < aside &&
        aside < swap &&
        swap < start &&
        start <= reset,
      `replay ${replay}, stream ${stream}, prepare ${prepare}, stop ${stop}, aside ${aside}, swap ${swap}, start ${start}`,
    );
    assert.equal(report.primary, false);
    assert.match(report.aside ?? '', /mysql\.before-restore-\d{8}T\d{6}Z$/);
    assert.deepEqual(
      calls
        .slice(from)
        .filter((c) => /^\[db-02\] (remove |\$ rm )/.test(c) && c.includes(files.datadir)),
      [],
      'the old data directory is never deleted',
    );
    assert.deepEqual(report.reseeded, []);
    // Not replicating, and recorded so: db status says so; the apps no longer read from it.
    const state = await readDbState(ctx);
    assert.equal(roleOf(state, 'db-02'), 'restored');
    assert.equal(state.restored?.[0]?.point, at);
    const status = await dbStatus(ctx);
    assert.deepEqual(
      status.restored.map((r) => [r.name, r.point]),
      [['db-02', at]],
    );
    assert.ok(
      status.problems.some(
        (p) => p.includes('db-02 is restored to') && p.includes('not replicating'),
      ),
    );
    assert.deepEqual(status.replicas, []);
    const topology = JSON.parse(
      recording.files.get(appDbFiles(ctx, 'web-01').topology)?.toString() ?? '{}',
    ) as { replicas?: unknown[] };
    assert.deepEqual(topology.replicas, []);
    const text = formatHostRestore(report);
    assert.match(text, /db-02 is a copy AT the restored point and does NOT replicate/);
    assert.match(text, /foobar db rejoin db-02/);
    assert.match(text, /kept \(not deleted\) in \S+before-restore-/);
    assert.ok(
      logged.some((l) => /^\d\d:\d\d:\d\d stop db-02: done in/.test(l)),
      logged.join('\n'),
    );
    // No failover pause for a replica.
    assert.ok(!calls.slice(from).some((c) => c.includes('/v3/kv/put')));

    // rejoin makes it a replica again: a fresh copy of the primary's data.
    const rejoinFrom = calls.length;
    const rejoined = await rejoin(ctx, 'db-02');
    assert.ok(rejoined.notes.some((n) => n.includes('it was a restored copy')));
    assert.ok(
      indexOf(
        calls,
        /^\[db-01\] \$ mariadb-backup .*--stream=mbstream \| \[db-02\] \$ mbstream/,
        rejoinFrom,
      ) >= 0,
    );
    assert.equal(roleOf(await readDbState(ctx), 'db-02'), 'replica');
  });

  it('the live primary with --force: failover paused, primary restored and opened, every replica reseeded, failover resumed', async () => {
    const { ctx, recording, etcd } = lab;
    const from = recording.calls.length;
    const report = await restoreQuietly(ctx, 'db-01', true);
    const calls = recording.calls;
    const pause = indexOf(calls, /\/v3\/kv\/put/, from);
    const stream = indexOf(calls, /^\[backup\] \$ mariadb-backup .*\| \[db-01\] \$ mbstream/, from);
    const stop = indexOf(calls, /^\[db-01\] \$ kill -s TERM/, from);
    const swap = indexOf(calls, /^\[db-01\] \$ mv -T -- \S+\/copy /, from);
    const opened = indexOf(calls, /^\[db-01\] \$ mariadb/, swap);
    const reseed = indexOf(calls, /^\[db-01\] \$ mariadb-backup .*\| \[db-02\] \$ mbstream/, swap);
    const resume = indexOf(calls, /\/v3\/kv\/deleterange/, from);
    assert.ok(
      pause >= 0 &&
        pause < stream &&
        stream < stop &&
        stop < swap &&
        swap < opened &&
        opened < reseed &&
        reseed < resume,
      `pause ${pause}, stream ${stream}, stop ${stop}, swap ${swap}, reseed ${reseed}, resume ${resume}`,
    );
    assert.ok(!etcd.has(failoverKeys(ctx.model).pause), 'automatic failover resumed');
    assert.equal(report.primary, true);
    assert.deepEqual(report.reseeded, ['db-02']);
    assert.deepEqual(
      report.steps.map((s) => s.step.split(' ').slice(0, 2).join(' ')),
      [
        'pause automatic',
        'restore time=2026-12-04T09:10:00.000Z',
        'stream the',
        'stop db-01',
        'swap the',
        'start db-01',
        'reseed db-02',
        'resume automatic',
      ],
    );
    assert.ok(report.seconds <= report.totalSeconds);
    const state = await readDbState(ctx);
    assert.equal(state.primary, 'db-01');
    assert.equal(roleOf(state, 'db-02'), 'replica');
    assert.match(
      formatHostRestore(report),
      /db-01 is the primary again, at the restored point; db-02 reseeded from it/,
    );
  });

  it('the primary with --force leaves a pause it did not make', async () => {
    const { ctx, etcd } = lab;
    const key = failoverKeys(ctx.model).pause;
    etcd.set(
      key,
      JSON.stringify({ by: 'someone', reason: 'kernel', at: new Date().toISOString() }),
    );
    const report = await restoreQuietly(ctx, 'db-01', true);
    assert.ok(etcd.has(key), 'still paused');
    assert.ok(report.notes.includes('automatic failover was paused already: left paused'));
  });

  it('a start that fails after the swap says where the old data is and what to do', async () => {
    const broken = await simulatedLab('broken');
    broken.failing.add('[db-02] mariadbd --defaults-file');
    await assert.rejects(
      restoreToHost(broken.ctx, {
        target: at,
        to: 'db-02',
        progress: () => undefined,
        log: () => undefined,
      }),
      (error: Error) =>
        /^db-02: the restore stopped half-way \(.*\); its data from before is in \S+mysql\.before-restore-\d{8}T\d{6}Z; .*foobar db rejoin db-02 makes it a replica again$/.test(
          error.message,
        ),
    );
    assert.equal(roleOf(await readDbState(broken.ctx), 'db-02'), 'restored');
  });
});
