/**
 * The database tier through real clients and real kills: the site's writes and reads, the
 * accounts' rights, bad input, a switchover and a SIGKILLed primary under load, fencing and
 * rejoining; first with one replica, then with two.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { dbSecretName } from '../../src/model/database.ts';
import { addressOf, hostsWithRole } from '../../src/model/model.ts';
import { waitFor } from '../../src/lib/wait.ts';
import { killDaemon, runningPid, startDaemon } from '../../src/steps/daemon.ts';
import type { ChangeReport } from '../../src/steps/db/changes.ts';
import { readDbState } from '../../src/steps/db/state.ts';
import { storedMessages } from '../../src/drill/writes.ts';
import type { DbStatus } from '../../src/steps/db/status.ts';
import { appFiles, mariadbDaemon, webDaemons } from '../../src/steps/services.ts';
import {
  assertEveryAckedOnce,
  cliReport,
  firstWriteAfter,
  longestPause,
  sql,
  sqlAs,
  unexplainedRows,
  assertNoStrayRows,
  assertUpRestartsNoServer,
  waitCaughtUp,
  writesAround,
} from '../support/db.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { appDbFiles } from '../../src/steps/db/topology.ts';
import { liveSlot, otherSlot, slotPort } from '../../src/steps/slots.ts';
import { fetchOn } from '../support/http.ts';
import type { TestLab } from '../support/lab.ts';

interface Whoami {
  readonly server: string;
  readonly db: { readonly read: string | null; readonly write: string | null };
}

/**
 * How long a switchover may pause writes in this test: three times the slowest figure measured
 * (3,638 ms at load average 43; 2,035 ms at 13, 110–450 ms on a quiet machine). The tight figure
 * is the drill's and the bench's.
 */
const SWITCHOVER_PAUSE_BOUND_MS = 11_000;

export function databaseSuite(lab: TestLab): void {
  const [lb1, lb2] = hostsWithRole(lab.model, 'lb');
  const webs = hostsWithRole(lab.model, 'web');
  // https://www.<domain>/...; curl's --resolve (lab.siteFlags) picks the load balancer.
  const url = (pathname: string): string => `${siteUrl(lab.model)}${pathname.slice(1)}`;
  const messages = url('/api/messages');
  const jar = path.join(lab.model.lab.stateDir, 'test-cookies.txt');

  // db status exits 1 while a server is fenced: degraded, and said so in its report.
  const cliOn = <T>(target: TestLab, ...args: string[]): Promise<T> =>
    cliReport<T>((...a) => target.cli(...a), args, args[1] === 'status' ? [0, 1] : [0]);
  const cli = <T>(...args: string[]): Promise<T> => cliOn<T>(lab, ...args);

  async function post(body: string | { file: string }, flags: string[] = []) {
    const data = typeof body === 'string' ? body : `@${body.file}`;
    return fetchOn(lab, 'client', messages, [
      '-X',
      'POST',
      '-H',
      'content-type: application/json',
      '--data-binary',
      data,
      '-c',
      jar,
      '-b',
      jar,
      ...lab.siteFlags(lb1),
      ...flags,
    ]);
  }

  async function whoami(lb = lb1): Promise<Whoami> {
    return JSON.parse(
      (await fetchOn(lab, 'client', url('/api/whoami'), lab.siteFlags(lb))).body,
    ) as Whoami;
  }

  async function appPids(): Promise<(number | undefined)[]> {
    return Promise.all(
      webs.map(async (web) => runningPid(lab.ctx, (await webDaemons(lab.ctx, web)).app)),
    );
  }

  async function killPrimary(): Promise<{ name: string; at: number }> {
    const state = await readDbState(lab.ctx);
    const daemon = mariadbDaemon(lab.ctx, lab.host(state.primary), state);
    const at = Date.now();
    assert.ok((await killDaemon(lab.ctx, daemon)) !== undefined, `${state.primary} was running`);
    return { name: state.primary, at };
  }

  function report(t: TestContext, figures: Record<string, unknown>): void {
    t.diagnostic(JSON.stringify(figures));
  }

  describe('the database tier, one replica', () => {
    // These tests kill primaries and promote by hand: the failover managers must not race them.
    before(async () => {
      const paused = await lab.cli('db', 'failover', 'pause', '--reason', 'database tests');
      assert.equal(paused.exitCode, 0, paused.stderr);
    });

    it('db status shows the primary, a replica that keeps up, and semi-sync on', async () => {
      const status = await cli<DbStatus>('db', 'status');
      assert.deepEqual(
        {
          primary: status.primary,
          replicas: status.replicas.map((r) => ({
            name: r.name,
            lagSeconds: r.lagSeconds,
            ioRunning: r.ioRunning,
            sqlRunning: r.sqlRunning,
            source: r.source,
          })),
          semiSync: status.semiSync,
          health: status.health,
        },
        {
          primary: 'db-01',
          replicas: [
            { name: 'db-02', lagSeconds: 0, ioRunning: true, sqlRunning: true, source: 'db-01' },
          ],
          semiSync: true,
          health: 'healthy',
        },
      );
      assert.equal(status.replicas[0]?.gtidSlavePos, status.gtidBinlogPos);
      // Heartbeats well under a second, so a silent primary is noticed quickly.
      const [[, period] = []] = await sql(
        lab,
        'db-02',
        "SHOW GLOBAL STATUS LIKE 'Slave_heartbeat_period'",
      );
      assert.equal(Number(period), 0.25);
      // Lossless: the primary acknowledges a commit only once a replica has it.
      assert.deepEqual(
        await sql(
          lab,
          'db-01',
          'SELECT @@rpl_semi_sync_master_wait_point, @@rpl_semi_sync_master_enabled',
        ),
        [['AFTER_SYNC', '1']],
      );
      assert.deepEqual(
        await sql(lab, 'db-02', 'SELECT @@read_only, @@rpl_semi_sync_master_enabled'),
        [['1', '0']],
      );
    });

    it('a web server whose database is slow to let it in (handshakes of seconds) becomes ready and serves', async (t) => {
      // A copy of web-01's live release, on its idle slot's port, reaching the primary through a
      // proxy that holds each connection's first 1.5 s of packets for 0.3 s: logging in takes
      // over a second, longer than any request or probe waits, while queries answer at once.
      const web = 'web-01';
      const slot = await liveSlot(lab.ctx, web);
      const primary = lab.host((await readDbState(lab.ctx)).primary);
      const text = `through a slow handshake ${Date.now()}`;
      const run = await lab.script(
        web,
        'test/support/slow-db.ts',
        [
          ...['--env', appFiles(lab.ctx, web, slot).env],
          ...['--release', hostPaths(lab.model, web).current],
          ...['--topology', appDbFiles(lab.ctx, web).topology],
          ...['--primary', `${addressOf(primary, 'core')}:${lab.model.ports.mysql}`],
          ...['--port', String(slotPort(lab.model, otherSlot(slot)))],
          ...['--delay-ms', '300', '--slow-for-ms', '1500', '--text', text],
        ],
        60_000,
      );
      assert.equal(run.exitCode, 0, run.stderr);
      const seen = JSON.parse(run.stdout) as {
        readyAfterMs: number | null;
        lastReadyz: string;
        write: number | null;
        read: number | null;
        readBody: string | null;
      };
      report(t, seen);
      assert.notEqual(seen.readyAfterMs, null, `never ready: ${seen.lastReadyz}`);
      assert.deepEqual({ write: seen.write, read: seen.read }, { write: 201, read: 200 });
      assert.ok(seen.readBody?.includes(text), seen.readBody ?? '');
    });

    it('a write through the site is on the replica, and its writer reads it back from the replica', async () => {
      const text = `hello from the client ${Date.now()}`;
      const created = await post(JSON.stringify({ text }));
      assert.equal(created.status, 201, created.body);
      const message = JSON.parse(created.body) as { id: number; text: string; db: string };
      assert.equal(message.text, text);
      assert.equal(message.db, 'db-01');
      assert.equal(created.headers.get('location'), `/api/messages/${message.id}`);
      assert.match(created.headers.get('set-cookie') ?? '', /^fb_gtid=0-31-\d+;/);
      // Read at once through the other load balancer, with the writer's cookie.
      const read = await fetchOn(lab, 'client', url('/api/messages'), [
        '-b',
        jar,
        ...lab.siteFlags(lb2),
      ]);
      assert.equal(read.status, 200);
      const listed = JSON.parse(read.body) as {
        messages: { id: number; text: string }[];
        db: string;
      };
      assert.equal(listed.db, 'db-02');
      assert.deepEqual(listed.messages[0], { ...listed.messages[0], id: message.id, text });
      assert.deepEqual(
        await sql(lab, 'db-02', `SELECT text FROM foobar.messages WHERE id = ${message.id}`),
        [[text]],
      );
      assert.deepEqual((await whoami()).db, { read: 'db-02', write: 'db-01' });
    });

    it('a writer whose write the replica has not applied reads it from the primary; others read the replica without it', async () => {
      // The replica receives but does not apply: the writer's GTID cannot be waited for there.
      await sql(lab, 'db-02', 'STOP SLAVE SQL_THREAD');
      try {
        const text = `read your write ${Date.now()}`;
        const created = await post(JSON.stringify({ text }));
        assert.equal(created.status, 201, created.body);
        const read = async (flags: string[]): Promise<{ texts: string[]; db: string }> => {
          const answer = await fetchOn(lab, 'client', url('/api/messages'), [
            ...flags,
            ...lab.siteFlags(lb2),
          ]);
          assert.equal(answer.status, 200, answer.body);
          const listed = JSON.parse(answer.body) as { messages: { text: string }[]; db: string };
          return { texts: listed.messages.map((m) => m.text), db: listed.db };
        };
        const writer = await read(['-b', jar]);
        assert.deepEqual(
          { db: writer.db, has: writer.texts.includes(text) },
          { db: 'db-01', has: true },
        );
        const other = await read([]);
        assert.deepEqual(
          { db: other.db, has: other.texts.includes(text) },
          { db: 'db-02', has: false },
        );
      } finally {
        await sql(lab, 'db-02', 'START SLAVE SQL_THREAD');
      }
      await waitCaughtUp(lab, 'db-02', 'db-01');
    });

    it('db promote is refused while the primary answers, and changes nothing', async () => {
      const refused = await lab.cli('db', 'promote', 'db-02');
      assert.equal(refused.exitCode, 2, refused.stdout);
      assert.match(
        refused.stderr,
        /db-01, the primary, still answers: promote is for a primary that is gone\..*switchover --to db-02.*add --force/s,
      );
      const status = await cli<DbStatus>('db', 'status');
      assert.deepEqual([status.primary, status.fenced], ['db-01', []]);
      assert.deepEqual((await whoami()).db, { read: 'db-02', write: 'db-01' });
    });

    it('the app’s account may only read and insert in its schema, replication’s only replicate', async () => {
      const app = (statement: string) => sqlAs(lab, 'app', 'web-01', 'db-01', statement);
      assert.equal((await app('SELECT COUNT(*) > 0 FROM foobar.messages')).stdout.trim(), '1');
      for (const statement of [
        'CREATE TABLE foobar.x (i INT)',
        'DELETE FROM foobar.messages',
        'UPDATE foobar.messages SET text = 1',
        'SELECT COUNT(*) FROM mysql.user',
        'SET GLOBAL read_only = OFF',
      ]) {
        const result = await app(statement);
        assert.notEqual(result.exitCode, 0, `the app could: ${statement}`);
        assert.match(result.stderr, /denied|privilege/i, statement);
      }
      const repl = await sqlAs(
        lab,
        'replication',
        'db-02',
        'db-01',
        'SELECT COUNT(*) FROM foobar.messages',
      );
      assert.match(repl.stderr, /denied/i);
      // Accounts name addresses: the app's password is useless from a database server.
      const elsewhere = await sqlAs(lab, 'app', 'db-02', 'db-01', 'SELECT 1');
      assert.match(elsewhere.stderr, /Access denied/);
    });

    it('keeps secrets 0600 and out of logs, files, output and command lines', async () => {
      const secrets = (['app', 'replication', 'admin', 'monitor', 'failover'] as const).map(
        (user) => {
          const file = lab.ctx.secrets.pathOf(dbSecretName(user));
          assert.equal(statSync(file).mode & 0o777, 0o600, file);
          return readFileSync(file, 'utf8').trim();
        },
      );
      const leaks: string[] = [];
      const output = [await lab.cli('up'), await lab.cli('db', 'status'), await lab.cli('status')];
      for (const result of output) {
        if (secrets.some((s) => result.stdout.includes(s) || result.stderr.includes(s)))
          leaks.push('output');
      }
      // Files meant to hold one (the replication password lives in MariaDB's master.info).
      const holders = /\/(admin\.cnf|backup\.cnf|db-password|mysqld-exporter\.cnf)$/;
      const scan = (dir: string): void => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          const file = path.join(dir, entry.name);
          if (entry.isDirectory()) scan(file);
          else if (holders.test(file))
            assert.equal(statSync(file).mode & 0o077, 0, `${file} is readable by others`);
          else if (
            entry.isFile() &&
            entry.name !== 'master.info' &&
            statSync(file).size < 64_000_000
          ) {
            const text = readFileSync(file, 'latin1');
            if (secrets.some((s) => text.includes(s))) leaks.push(file);
          }
        }
      };
      scan(path.join(lab.model.lab.stateDir, 'hosts'));
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        let cmdline = '';
        try {
          cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          continue;
        }
        if (secrets.some((s) => cmdline.includes(s))) leaks.push(`/proc/${pid}/cmdline`);
      }
      assert.deepEqual(leaks, []);
    });

    it('answers bad input with a 4xx or stores it verbatim, never a 5xx', async () => {
      const raw = path.join(lab.model.lab.stateDir, 'test-body.bin');
      writeFileSync(
        raw,
        Buffer.concat([Buffer.from('{"text": "caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
      );
      const refused: [string | { file: string }, number][] = [
        ['{"text": ""}', 400],
        ['{"text": "   "}', 400],
        [JSON.stringify({ text: 'x'.repeat(501) }), 400],
        [{ file: raw }, 400],
        ['{"text": "\\ud800"}', 400],
        ['{"text": "nul\\u0000"}', 400],
        ['{"text": ["a"]}', 400],
        ['{"text": "a"', 400],
        ['null', 400],
        [JSON.stringify({ text: 'y'.repeat(17_000) }), 413],
      ];
      for (const [body, status] of refused) {
        const response = await post(body);
        assert.equal(
          response.status,
          status,
          `${JSON.stringify(body).slice(0, 60)}: ${response.body}`,
        );
      }
      const form = await fetchOn(lab, 'client', messages, [
        '--data',
        'text=hi',
        ...lab.siteFlags(lb1),
      ]);
      assert.equal(form.status, 415);
      for (const query of ['?limit=0', '?limit=abc', '?limit=1e3']) {
        assert.equal(
          (await fetchOn(lab, 'client', url(`/api/messages${query}`), lab.siteFlags(lb1))).status,
          400,
        );
      }
      const badCookie = await fetchOn(lab, 'client', messages, [
        '-b',
        "fb_gtid=0-1-1' OR 1=1 --",
        ...lab.siteFlags(lb1),
      ]);
      assert.equal(badCookie.status, 200);

      const verbatim = [
        "'); DROP TABLE messages; --",
        "Robert'); DELETE FROM messages WHERE ('1'='1",
        '\\x00 \\" %s %n ${x} <script>alert(1)</script>',
        'ünïcödé 👋🏽 世界 مرحبا',
        'x'.repeat(500),
        '😀'.repeat(500),
      ];
      for (const text of verbatim) {
        const response = await post(JSON.stringify({ text }));
        assert.equal(response.status, 201, response.body);
        const { id } = JSON.parse(response.body) as { id: number };
        const [[stored] = []] = await sql(
          lab,
          'db-01',
          `SELECT HEX(text) FROM foobar.messages WHERE id = ${id}`,
        );
        assert.equal(Buffer.from(stored ?? '', 'hex').toString('utf8'), text);
      }
      assert.deepEqual(await sql(lab, 'db-01', "SHOW TABLES FROM foobar LIKE 'messages'"), [
        ['messages'],
      ]);
    });

    it('a switchover under load loses no acknowledged write and pauses writes briefly', async (t) => {
      const before = await appPids();
      // The writes span the switchover however long it takes (the CLI's start included).
      const around = await writesAround(lab, 'switchover', () =>
        cli<ChangeReport>('db', 'switchover', '--to', 'db-02'),
      );
      const { result: change, writes: summary } = around;
      assert.equal(change.primary, 'db-02');
      const gapMs = longestPause(summary);
      report(t, {
        switchoverMs: change.totalMs,
        writePauseMs: change.writePauseMs,
        longestGapBetweenAcksMs: gapMs,
        writes: summary.acked.length,
      });
      // Bounded (docs/decisions.md) as foobar reports it and as the writers saw it.
      const pauseMs = change.writePauseMs;
      assert.ok(
        pauseMs !== undefined && pauseMs <= SWITCHOVER_PAUSE_BOUND_MS,
        `writes paused ${pauseMs} ms`,
      );
      assert.ok(gapMs <= SWITCHOVER_PAUSE_BOUND_MS, `no write acknowledged for ${gapMs} ms`);
      assert.deepEqual(summary.failures, {}, 'every write was acknowledged');
      assert.ok(
        summary.acked.some((a) => a.db === 'db-01') && summary.acked.some((a) => a.db === 'db-02'),
      );
      await waitCaughtUp(lab, 'db-01', 'db-02');
      await assertEveryAckedOnce(lab, 'db-02', 'switchover', summary);
      await assertEveryAckedOnce(lab, 'db-01', 'switchover', summary);
      // Nothing more than was acknowledged, but what was in flight when the writers left.
      const stored = await storedMessages(lab.ctx, 'db-02', 'switchover');
      assert.deepEqual(unexplainedRows('switchover', summary.acked, stored), []);
      assert.deepEqual(await appPids(), before, 'the apps were not restarted');
      assert.deepEqual((await whoami()).db, { read: 'db-01', write: 'db-02' });
      // Semi-sync on the primary only: the old primary, now a replica, waits for no one.
      assert.deepEqual(
        await sql(lab, 'db-01', 'SELECT @@read_only, @@rpl_semi_sync_master_enabled'),
        [['1', '0']],
      );
      const status = await cli<DbStatus>('db', 'status');
      assert.deepEqual(
        [
          status.primary,
          status.semiSync,
          status.replicas.map((r) => [r.name, r.source, r.ioRunning, r.sqlRunning]),
        ],
        ['db-02', true, [['db-01', 'db-02', true, true]]],
      );
      await assertUpRestartsNoServer(lab);
    });

    it('SIGKILL of the primary under load: promote loses no acknowledged write, the site writes again without an app restart', async (t) => {
      const before = await appPids();
      // The writes go on until after a person's `db promote` (a CLI start) ended, however slow.
      let killed = { name: '', at: 0 };
      const { result: change, writes: summary } = await writesAround(lab, 'promote1', async () => {
        killed = await killPrimary();
        return cli<ChangeReport>('db', 'promote', 'db-01');
      });
      assert.equal(killed.name, 'db-02');
      assert.equal(change.primary, 'db-01');
      const rows = await assertEveryAckedOnce(lab, 'db-01', 'promote1', summary);
      // A write whose connection died with the primary may have committed (never twice: checked
      // above), and so may the write each writer had in flight when it was stopped.
      assertNoStrayRows(rows, summary);
      const firstWriteMs = firstWriteAfter(summary, killed.at, 'db-01');
      assert.deepEqual(await appPids(), before, 'the apps were not restarted');
      assert.equal((await whoami()).db.write, 'db-01');
      const status = await cli<DbStatus>('db', 'status');
      // No replica is left, so semi-sync stays off: every commit would wait for its timeout.
      assert.deepEqual(
        [status.primary, status.fenced.map((f) => f.name), status.semiSync],
        ['db-01', ['db-02'], false],
      );
      report(t, {
        killToFirstWriteMs: firstWriteMs,
        promoteMs: change.totalMs,
        promoteSteps: change.steps,
        writes: summary.acked.length,
        failures: summary.failures,
      });
    });

    it('keeps the fenced primary out: up leaves it stopped, and started by hand it takes no write', async () => {
      const up = await lab.cli('up');
      assert.equal(up.exitCode, 0, up.stderr);
      assert.match(up.stdout, /db-02: fenced \(a former primary\)/);
      const state = await readDbState(lab.ctx);
      const daemon = mariadbDaemon(lab.ctx, lab.host('db-02'), state);
      assert.equal(await runningPid(lab.ctx, daemon), undefined);
      // As after a reboot: it comes up read-only, and the web servers' firewalls refuse it (two
      // fences: the second holds when the first is lifted by mistake).
      await startDaemon(lab.ctx, daemon);
      assert.deepEqual(await sql(lab, 'db-02', 'SELECT @@read_only'), [['1']]);
      const write = await sqlAs(
        lab,
        'app',
        'web-01',
        'db-02',
        "INSERT INTO foobar.messages (text) VALUES ('split brain')",
      );
      assert.notEqual(write.exitCode, 0);
      assert.match(write.stderr, /Can't connect|refused/, write.stderr);
    });

    it('the killed primary rejoins as a replica of the new one', async () => {
      const change = await cli<ChangeReport>('db', 'rejoin', 'db-02');
      assert.equal(change.host, 'db-02');
      const text = `after rejoin ${Date.now()}`;
      assert.equal((await post(JSON.stringify({ text }))).status, 201);
      await waitCaughtUp(lab, 'db-02', 'db-01');
      assert.deepEqual(
        await sql(lab, 'db-02', `SELECT COUNT(*) FROM foobar.messages WHERE text = '${text}'`),
        [['1']],
      );
      const status = await cli<DbStatus>('db', 'status');
      assert.deepEqual(
        [
          status.primary,
          status.semiSync,
          status.fenced,
          status.replicas.map((r) => [r.name, r.source, r.ioRunning, r.sqlRunning]),
        ],
        ['db-01', true, [], [['db-02', 'db-01', true, true]]],
      );
      assert.deepEqual((await whoami()).db, { read: 'db-02', write: 'db-01' });
      await assertUpRestartsNoServer(lab);
    });
  });

  describe('the database tier, two replicas', () => {
    // Made when the section runs (a filtered run skips its hooks: no config file left behind).
    let bigger: TestLab;
    before(() => {
      bigger = lab.extend({ hosts: { 'db-03': { roles: ['db'], core: 33 } } }, 'db-03');
    });
    after(async () => {
      try {
        const resumed = await bigger.cli('db', 'failover', 'resume');
        assert.equal(resumed.exitCode, 0, resumed.stderr);
      } finally {
        // Whatever happened above, the machine is left as it was found.
        bigger.removeConfig();
      }
    });

    it('up adds a replica from a consistent copy taken under load', async (t) => {
      // Writes before, during and after the copy: up's whole run.
      const { result: up, writes: summary } = await writesAround(lab, 'seed', () =>
        bigger.cli('up'),
      );
      assert.equal(up.exitCode, 0, up.stderr);
      // Streamed from db-01's host into db-03's (mariadb-backup | mbstream), with its figures.
      const copied =
        /db-03: replica, .*copied from db-01 \((\d+\.\d MB) streamed in ([\d.]+) s\)/.exec(
          up.stdout,
        );
      assert.ok(copied, up.stdout);
      t.diagnostic(
        `seed of db-03: ${copied[1]} streamed in ${copied[2]} s; ${summary.acked.length} writes acknowledged around it`,
      );
      assert.deepEqual(summary.failures, {});
      await waitCaughtUp(bigger, 'db-03', 'db-01');
      await assertEveryAckedOnce(bigger, 'db-03', 'seed', summary);
      assert.deepEqual(
        await sql(bigger, 'db-03', 'SELECT COUNT(*), MAX(id) FROM foobar.messages'),
        await sql(bigger, 'db-01', 'SELECT COUNT(*), MAX(id) FROM foobar.messages'),
      );
      const status = await cliOn<DbStatus>(bigger, 'db', 'status');
      assert.deepEqual(
        status.replicas.map((r) => [r.name, r.source, r.ioRunning, r.sqlRunning]),
        [
          ['db-02', 'db-01', true, true],
          ['db-03', 'db-01', true, true],
        ],
      );
    });

    it('reads go to both replicas in turn', async () => {
      const readers = new Set<string | null>();
      for (let i = 0; i < 8; i++) readers.add((await whoami(i % 2 === 0 ? lb1 : lb2)).db.read);
      assert.deepEqual([...readers].sort(), ['db-02', 'db-03']);
    });

    it('SIGKILL of the primary: the apps say they cannot write (and stay ready), promote loses nothing and the other replica follows', async (t) => {
      let killed = { name: '', at: 0 };
      let readyzMs = 0;
      const around = await writesAround(bigger, 'promote2', async () => {
        killed = await killPrimary();
        assert.equal(killed.name, 'db-01');
        // The app cannot write, and says so beside its readiness (it still serves reads). Asked
        // through Nginx, as the load balancers do: the app's own port depends on the live slot.
        await waitFor(
          'web-01 /readyz to report it cannot write',
          async () => {
            const readyz = await lab.on('web-01', [
              'curl',
              '-s',
              '-H',
              `Host: www.${lab.model.domain}`,
              `http://127.0.0.1:${lab.model.ports.http}/readyz`,
            ]);
            return readyz.stdout.includes('"status":"ready"') &&
              readyz.stdout.includes('"primaryReachable":false')
              ? undefined
              : readyz.stdout;
          },
          { timeoutMs: 15_000 },
        );
        readyzMs = Date.now() - killed.at;
        return cliOn<ChangeReport>(bigger, 'db', 'promote', 'db-03');
      });
      const { result: change, writes: summary } = around;
      assert.equal(change.primary, 'db-03');
      await assertEveryAckedOnce(bigger, 'db-03', 'promote2', summary);
      await waitCaughtUp(bigger, 'db-02', 'db-03');
      await assertEveryAckedOnce(bigger, 'db-02', 'promote2', summary);
      const status = await cliOn<DbStatus>(bigger, 'db', 'status');
      assert.deepEqual(
        [
          status.primary,
          status.semiSync,
          status.fenced.map((f) => f.name),
          status.replicas.map((r) => [r.name, r.source, r.ioRunning, r.sqlRunning]),
        ],
        ['db-03', true, ['db-01'], [['db-02', 'db-03', true, true]]],
      );
      report(t, {
        readyzFailedAfterMs: readyzMs,
        killToFirstWriteMs: firstWriteAfter(summary, killed.at, 'db-03'),
        promoteMs: change.totalMs,
        writes: summary.acked.length,
        failures: summary.failures,
      });
    });

    it('refuses to rejoin a server with transactions the primary lacks, and --reseed replaces its data', async () => {
      const state = await readDbState(bigger.ctx);
      await startDaemon(bigger.ctx, mariadbDaemon(bigger.ctx, bigger.host('db-01'), state));
      // Errant writes on the fenced server (the admin account is not held by read_only): more
      // than it can have lost in its crash, so their GTIDs are beyond anything db-03 got from it.
      for (let i = 0; i < 10; i++)
        await sql(bigger, 'db-01', `INSERT INTO foobar.messages (text) VALUES ('errant-${i}')`);
      const [[errant = ''] = []] = await sql(bigger, 'db-01', 'SELECT @@gtid_binlog_pos');
      const refused = await bigger.cli('db', 'rejoin', 'db-01');
      assert.equal(refused.exitCode, 2);
      assert.match(
        refused.stderr,
        new RegExp(`db-01 has transactions that db-03 lacks \\(${errant}\\).*--reseed`, 's'),
      );
      assert.deepEqual(
        (await cliOn<DbStatus>(bigger, 'db', 'status')).fenced.map((f) => f.name),
        ['db-01'],
      );
      const change = await cli<ChangeReport>(
        '--config',
        bigger.configFile,
        'db',
        'rejoin',
        'db-01',
        '--reseed',
      );
      assert.equal(change.host, 'db-01');
      assert.deepEqual(
        await sql(
          bigger,
          'db-01',
          "SELECT COUNT(*) FROM foobar.messages WHERE text LIKE 'errant-%'",
        ),
        [['0']],
      );
      const status = await cliOn<DbStatus>(bigger, 'db', 'status');
      assert.deepEqual(
        [status.health, status.replicas.map((r) => [r.name, r.source, r.ioRunning, r.sqlRunning])],
        [
          'healthy',
          [
            ['db-01', 'db-03', true, true],
            ['db-02', 'db-03', true, true],
          ],
        ],
      );
    });

    it('db promote --force replaces a primary that still answers: it is fenced and killed, no acknowledged write is lost, the other replica follows', async (t) => {
      const state = await readDbState(bigger.ctx);
      assert.equal(state.primary, 'db-03');
      const old = mariadbDaemon(bigger.ctx, bigger.host('db-03'), state);
      assert.ok((await runningPid(bigger.ctx, old)) !== undefined, 'db-03 answers before');
      const around = await writesAround(bigger, 'forced', () =>
        cliOn<ChangeReport>(bigger, 'db', 'promote', 'db-01', '--force'),
      );
      const { result: change, writes: summary, startedAt } = around;
      assert.equal(change.primary, 'db-01');
      assert.equal(await runningPid(bigger.ctx, old), undefined, 'db-03 was killed');
      const rows = await assertEveryAckedOnce(bigger, 'db-01', 'forced', summary);
      // A write cut by the change may have committed (never twice: checked above), and so may
      // the write each writer had in flight when it was stopped.
      assertNoStrayRows(rows, summary);
      await waitCaughtUp(bigger, 'db-02', 'db-01');
      await assertEveryAckedOnce(bigger, 'db-02', 'forced', summary);
      assert.ok(
        summary.acked.some((a) => a.db === 'db-01' && a.at > startedAt),
        'the site writes to the new primary',
      );
      const status = await cliOn<DbStatus>(bigger, 'db', 'status');
      assert.deepEqual(
        [
          status.primary,
          status.fenced.map((f) => f.name),
          status.replicas.map((r) => [r.name, r.source, r.ioRunning, r.sqlRunning]),
        ],
        ['db-01', ['db-03'], [['db-02', 'db-01', true, true]]],
      );
      report(t, {
        promoteMs: change.totalMs,
        notes: change.notes,
        writes: summary.acked.length,
        failures: summary.failures,
      });
    });
  });
}
