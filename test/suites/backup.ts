/**
 * Data safety through real clients: guestbook rows written through the site, a full backup, more
 * rows, a bad migration's DELETE of every message, rows after it; then a point-in-time restore
 * onto the backup host's scratch server, counted with the mariadb client there, and onto a
 * replica (`--to`), counted with the mariadb client on the replica, which is then rejoined, and
 * onto the live primary (`--to` it, `--force`), whose replicas are then reseeded from it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupHost } from '../../src/model/backup.ts';
import { sleep } from '../../src/lib/wait.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { readDbState, replicasOf } from '../../src/steps/db/state.ts';
import type { HostRestoreReport } from '../../src/steps/db/restore.ts';
import { seqOf, type ArchivedBinlog, type FullBackup } from '../../src/backup/catalog.ts';
import type { BackupCatalog, RestoreReport } from '../../src/steps/backup.ts';
import type { DbStatus } from '../../src/steps/db/status.ts';
import { cliReport, rootClient, sql } from '../support/db.ts';
import { postFromClient } from '../support/http.ts';
import type { TestLab } from '../support/lab.ts';

export function backupSuite(lab: TestLab): void {
  const messages = `${siteUrl(lab.model)}api/messages`;
  const backup = backupHost(lab.model)?.name ?? 'backup';
  const run = `pitr-${Date.now().toString(36)}`;

  async function write(label: string, count: number): Promise<string[]> {
    const acked: string[] = [];
    for (let i = 0; i < count; i++) {
      const text = `${run} ${label} ${i}`;
      const response = await postFromClient(lab, messages, text, lab.siteFlags());
      assert.equal(response.status, 201, `${text}: ${response.body}`);
      acked.push(text);
    }
    return acked;
  }

  const json = <T>(...args: string[]): Promise<T> =>
    cliReport<T>((...a) => lab.cliWithin(600_000, ...a), args, [0, 1]);

  /** What the first test wrote and when it made its mistake, for the restore onto a replica. */
  let mistake: { at: Date; before: string[]; after: string[] } | undefined;
  /** The write the --force test made after restoring the primary. */
  let afterRestore: string | undefined;

  /**
   * Waits (60 s at most) until db status says the archive reaches `writtenBy` (RPO); resolves to
   * how many seconds after it that was.
   */
  async function recoverable(writtenBy: number, failure: string): Promise<number> {
    const deadline = writtenBy + 60_000;
    // Any exit: on a busy machine a probe of the primary can time out (status 2, "failed"); the
    // archive's moment is in the output all the same, and the wait is bounded.
    const status = async (): Promise<DbStatus> => {
      const result = await lab.cliWithin(600_000, 'db', 'status', '--json');
      assert.ok(result.stdout.startsWith('{'), `foobar db status: ${result.stderr}`);
      return JSON.parse(result.stdout) as DbStatus;
    };
    let seen = await status();
    while (Date.parse(seen.backups?.recoverableAt ?? '') < writtenBy) {
      assert.ok(Date.now() < deadline, `${failure}: ${JSON.stringify(seen.backups)}`);
      await sleep(500);
      seen = await status();
    }
    return (Date.now() - writtenBy) / 1000;
  }

  /** `foobar db restore --at <at> --to <host> [flags]`, which must succeed: its report. */
  async function restoreOnto(
    host: string,
    at: Date,
    ...flags: string[]
  ): Promise<HostRestoreReport> {
    const result = await lab.cliWithin(
      900_000,
      'db',
      'restore',
      '--at',
      at.toISOString(),
      '--to',
      host,
      ...flags,
      '--json',
    );
    assert.equal(result.exitCode, 0, result.stderr);
    return JSON.parse(result.stdout) as HostRestoreReport;
  }

  /** This run's rows on a restored server, counted with the mariadb client on its host. */
  async function restoredRows(socket: string, host = backup): Promise<Set<string>> {
    const result = await lab.on(
      host,
      rootClient(
        socket,
        `SELECT text FROM ${lab.model.database.schema}.messages WHERE text LIKE '${run} %'`,
      ),
    );
    assert.equal(result.exitCode, 0, result.stderr);
    return new Set(result.stdout.split('\n').filter((line) => line !== ''));
  }

  /**
   * Asserts that a plan applies `source`'s binary log from before a takeover (a restore of it or a
   * promotion away from it) only up to the takeover's position, and that the archive holds
   * transactions of that log past it, so the check can fail. Where the agent happened to close the
   * file (every binlogFlushSeconds) decides how: a file that spans the position is cut there or
   * before (at an earlier takeover: `until`), one that begins past it is left out; both are right.
   */
  async function appliedUpToTakeover(
    plan: RestoreReport['plan'],
    source: string,
    action: 'restore' | 'promote',
  ): Promise<void> {
    const takeover = (await readDbState(lab.ctx)).history.findLast(
      (e) => e.action === action && (action === 'restore' ? e.host : e.from) === source,
    );
    assert.ok(takeover?.gtid !== undefined, `database.json records the ${action} of ${source}`);
    const point = seqOf(takeover.gtid);
    // Files the source began a whole second before the takeover: its history from then.
    const before = (b: { source: string; firstAt?: string }): boolean =>
      b.source === source && Date.parse(b.firstAt ?? '') + 1000 <= Date.parse(takeover.at);
    const archived = (await json<BackupCatalog>('db', 'backups')).binlogs.filter(before);
    const shown = JSON.stringify({
      takeover,
      plan: plan.binlogs.map((b) => [b.binlog.source, b.binlog.name, b.from, b.until]),
      archived: archived.map((b) => [b.name, b.firstGtid, b.lastGtid, b.firstAt]),
    });
    assert.ok(
      archived.some((b) => seqOf(b.lastGtid ?? '') > point),
      `the archive holds ${source}'s transactions past the takeover: ${shown}`,
    );
    for (const { binlog, until } of plan.binlogs.filter((b) => before(b.binlog)))
      assert.ok(
        seqOf(until ?? binlog.lastGtid ?? '') <= point,
        `${source}/${binlog.name} is applied up to the takeover only: ${shown}`,
      );
  }

  describe('backups and point-in-time recovery', () => {
    it('recovers the moment before a DELETE of every message: every row acknowledged before it, none after', async (t) => {
      const first = await write('before-backup', 10);
      const full = await json<FullBackup>('db', 'backup');
      const state = await readDbState(lab.ctx);
      assert.notEqual(full.source, state.primary, 'a full backup is never taken from the primary');
      const second = await write('after-backup', 10);
      // A time target is to the second: the mistake comes in a later second than the last good row.
      await sleep(1500);
      const mistakeAt = new Date();
      await sleep(100);
      await sql(lab, state.primary, `DELETE FROM ${lab.model.database.schema}.messages`);
      const [[left] = []] = await sql(
        lab,
        state.primary,
        `SELECT COUNT(*) FROM ${lab.model.database.schema}.messages`,
      );
      assert.equal(left, '0', 'the mistake deleted every message');
      const after = await write('after-mistake', 5);
      mistake = { at: mistakeAt, before: [...first, ...second], after };

      // The archive reaches past the last write (RPO), as db status says.
      const rpoSeconds = await recoverable(Date.now(), 'archive not current');

      const restored = await json<RestoreReport>('db', 'restore', '--at', mistakeAt.toISOString());
      const rows = await restoredRows(restored.socket);
      const missing = [...first, ...second].filter((text) => !rows.has(text));
      const leaked = after.filter((text) => rows.has(text));
      assert.deepEqual(missing, [], 'every row acknowledged before the mistake is back');
      assert.deepEqual(leaked, [], 'no row written after the mistake');
      assert.equal(rows.size, first.length + second.length);
      t.diagnostic(
        `restore (RTO) ${restored.seconds.toFixed(1)} s: ${restored.steps.map((s) => `${s.step} ${s.seconds.toFixed(1)} s`).join('; ')}; ` +
          `backup ${full.id} ${(full.sealed.bytes / 1024).toFixed(0)} KiB stored; archive past the last write ${rpoSeconds.toFixed(1)} s after it (as db status shows it); ${restored.plan.binlogs.length} binary log(s) applied`,
      );

      const catalog = await json<BackupCatalog>('db', 'backups');
      assert.ok(catalog.backups.some((b) => b.id === full.id));
      const discard = await lab.cli('db', 'restore', '--discard');
      assert.equal(discard.exitCode, 0, discard.stderr);
    });

    it('restores a replica --to the moment before the DELETE: every row before it there, none after, not replicating until rejoined', async (t) => {
      assert.ok(mistake !== undefined, 'the test before wrote the rows and made the mistake');
      const state = await readDbState(lab.ctx);
      const replica = replicasOf(lab.ctx, state)[0]?.name;
      assert.ok(replica !== undefined, 'a replica to restore onto');
      const restored = await restoreOnto(replica, mistake.at);
      assert.equal(restored.to, replica);
      const rows = await restoredRows(restored.socket, replica);
      const missing = mistake.before.filter((text) => !rows.has(text));
      const leaked = mistake.after.filter((text) => rows.has(text));
      assert.deepEqual(missing, [], 'every row acknowledged before the mistake is on the replica');
      assert.deepEqual(leaked, [], 'no row written after the mistake');
      assert.equal(rows.size, mistake.before.length);
      // A copy at the point, replicating from no one, and shown so; its old data kept aside.
      const slave = await lab.on(replica, [
        'mariadb',
        '--no-defaults',
        `--socket=${restored.socket}`,
        '--user=root',
        '-e',
        'SHOW SLAVE STATUS',
      ]);
      assert.equal(slave.exitCode, 0, slave.stderr);
      assert.equal(slave.stdout.trim(), '', 'not replicating');
      assert.ok(restored.aside !== null, 'the old data directory was kept');
      const aside = await lab.on(replica, ['test', '-d', `${restored.aside}/mysql`]);
      assert.equal(aside.exitCode, 0, `${restored.aside} holds the old data`);
      const status = await json<DbStatus>('db', 'status');
      assert.deepEqual(
        status.restored.map((r) => r.name),
        [replica],
      );
      assert.ok(!status.replicas.some((r) => r.name === replica));
      const shown = await lab.cli('db', 'status');
      assert.match(shown.stdout, new RegExp(`${replica} .*restored to time=.*not replicating`));

      // rejoin makes it a replica again, with the rows written after the mistake.
      const rejoined = await lab.cliWithin(600_000, 'db', 'rejoin', replica);
      assert.equal(rejoined.exitCode, 0, rejoined.stderr);
      const back = await json<DbStatus>('db', 'status');
      assert.deepEqual(back.restored, []);
      assert.ok(
        back.replicas.some((r) => r.name === replica && r.ioRunning && r.sqlRunning),
        JSON.stringify(back.replicas),
      );
      const now = await restoredRows(restored.socket, replica);
      assert.deepEqual(
        mistake.after.filter((text) => !now.has(text)),
        [],
        'a replica again: it has what the primary has',
      );
      t.diagnostic(
        `restore onto ${replica} (RTO) ${restored.seconds.toFixed(1)} s: ${restored.steps.map((s) => `${s.step} ${s.seconds.toFixed(1)} s`).join('; ')}; old data kept in ${restored.aside}`,
      );
      const discard = await lab.cli('db', 'restore', '--discard');
      assert.equal(discard.exitCode, 0, discard.stderr);
    });

    it('with --force restores the live primary to the moment before the DELETE: the rows before it and none after, every replica reseeded from it, failover resumed, the site writing', async (t) => {
      assert.ok(mistake !== undefined, 'the first test wrote the rows and made the mistake');
      const { primary } = await readDbState(lab.ctx);
      const restored = await restoreOnto(primary, mistake.at, '--force');
      assert.equal(restored.to, primary);
      assert.equal(restored.primary, true);
      const rows = await restoredRows(restored.socket, primary);
      assert.deepEqual(
        mistake.before.filter((text) => !rows.has(text)),
        [],
        'every row acknowledged before the mistake is on the primary',
      );
      assert.deepEqual(
        mistake.after.filter((text) => rows.has(text)),
        [],
        'the site went back to the point: nothing written after the mistake',
      );
      // Still the primary, and every replica a copy of it, replicating.
      const state = await readDbState(lab.ctx);
      assert.equal(state.primary, primary);
      const replicas = replicasOf(lab.ctx, state).map((r) => r.name);
      assert.deepEqual([...restored.reseeded].sort(), [...replicas].sort());
      const status = await json<DbStatus>('db', 'status');
      for (const replica of replicas)
        assert.ok(
          status.replicas.some((r) => r.name === replica && r.ioRunning && r.sqlRunning),
          JSON.stringify(status.replicas),
        );
      assert.doesNotMatch(status.failover.pausedBecause, /^paused by/, 'failover resumed');
      // A visitor's write lands on the restored primary and reaches every replica.
      const [written] = await write('after-restore', 1);
      assert.ok(written !== undefined);
      afterRestore = written;
      for (const host of [primary, ...replicas]) {
        const count = async (): Promise<string | undefined> =>
          (
            await sql(
              lab,
              host,
              `SELECT COUNT(*) FROM ${lab.model.database.schema}.messages WHERE text = '${written}'`,
            )
          )[0]?.[0];
        const deadline = Date.now() + 30_000;
        while ((await count()) !== '1') {
          assert.ok(Date.now() < deadline, `${host} never had the write made after the restore`);
          await sleep(250);
        }
      }
      // The archive follows the restored primary, whose binary log restarted at the point: the
      // write after the restore becomes recoverable, as db status says.
      const rpo = await recoverable(Date.now(), 'the archive does not follow the restored primary');
      t.diagnostic(`archive past the write after the restore ${rpo.toFixed(1)} s after it`);
      t.diagnostic(
        `restore onto the primary ${primary} (RTO) ${restored.seconds.toFixed(1)} s, the whole command ${restored.totalSeconds.toFixed(1)} s: ${restored.steps.map((s) => `${s.step} ${s.seconds.toFixed(1)} s`).join('; ')}; reseeded ${restored.reseeded.join(', ')}`,
      );
      const discard = await lab.cli('db', 'restore', '--discard');
      assert.equal(discard.exitCode, 0, discard.stderr);
    });

    it('a restore to a moment after the --force restore has what the site had then: the rows before the mistake and the write after the restore, nothing the restore undid', async () => {
      assert.ok(mistake !== undefined, 'the first test wrote the rows and made the mistake');
      assert.ok(afterRestore !== undefined, 'the --force test wrote after its restore');
      // The primary's binary log from before its restore still holds the DELETE and the rows
      // after it, under the numbers its restarted log reuses.
      await sleep(1100);
      const at = new Date();
      const restored = await json<RestoreReport>('db', 'restore', '--at', at.toISOString());
      const rows = await restoredRows(restored.socket);
      const archive = (await json<BackupCatalog>('db', 'backups')).binlogs.map((b) => [
        b.source,
        b.name,
        b.firstGtid,
        b.lastGtid,
        b.firstAt,
        'sealed' in b,
      ]);
      const history = (await readDbState(lab.ctx)).history;
      assert.deepEqual(
        mistake.before.filter((text) => !rows.has(text)),
        [],
        `every row before the mistake is there (plan ${JSON.stringify(restored.plan.binlogs.map((b) => [b.binlog.name, b.from, b.until]))}; backup ${restored.plan.backup.id} at ${restored.plan.backup.gtid}; archive ${JSON.stringify(archive)}; history ${JSON.stringify(history)})`,
      );
      assert.ok(rows.has(afterRestore), 'the write after the restore is there');
      assert.deepEqual(
        mistake.after.filter((text) => rows.has(text)),
        [],
        'nothing the restore undid',
      );
      const { primary } = await readDbState(lab.ctx);
      await appliedUpToTakeover(restored.plan, primary, 'restore');
      const discard = await lab.cli('db', 'restore', '--discard');
      assert.equal(discard.exitCode, 0, discard.stderr);
    });

    it('a restore across a promotion applies the new primary’s transactions, never the one the old primary acknowledged and archived but no replica received', async (t) => {
      const { primary: old } = await readDbState(lab.ctx);
      const replicas = replicasOf(lab.ctx, await readDbState(lab.ctx)).map((r) => r.name);
      const [next] = replicas;
      assert.ok(next !== undefined, 'a replica to promote');
      // The replicas stop receiving; the primary acknowledges a write once semi-sync gives up.
      for (const replica of replicas) await sql(lab, replica, 'STOP SLAVE IO_THREAD');
      const [lost] = await write('lost-with-the-old-primary', 1);
      assert.ok(lost !== undefined);
      await recoverable(Date.now(), 'the archive never had the write no replica received');
      const promoted = await lab.cliWithin(300_000, 'db', 'promote', next, '--force');
      assert.equal(promoted.exitCode, 0, promoted.stderr);
      // Its first transactions take the sequence numbers the lost one had.
      const kept = await write('after-promotion', 3);
      await recoverable(Date.now(), 'the archive does not follow the promoted primary');
      await sleep(1100);
      const restored = await json<RestoreReport>('db', 'restore', '--at', new Date().toISOString());
      const rows = await restoredRows(restored.socket);
      assert.deepEqual(
        kept.filter((text) => !rows.has(text)),
        [],
        `every write on the new primary is there (plan ${JSON.stringify(restored.plan.binlogs.map((b) => [b.binlog.source, b.binlog.name, b.from, b.until]))})`,
      );
      assert.equal(rows.has(lost), false, 'the write no replica received is not');
      await appliedUpToTakeover(restored.plan, old, 'promote');
      t.diagnostic(
        `restore across the promotion (RTO) ${restored.seconds.toFixed(1)} s, ${restored.plan.binlogs.length} binary logs: ${restored.plan.binlogs.map((b) => `${b.binlog.source}/${b.binlog.name} from ${b.from || 'start'}${b.until === undefined ? '' : ` until ${b.until}`}`).join(', ')}`,
      );
      const discard = await lab.cli('db', 'restore', '--discard');
      assert.equal(discard.exitCode, 0, discard.stderr);
      // As it began for the next suites: the old primary (which holds the lost write) reseeded,
      // then the primary again.
      const rejoin = await lab.cliWithin(600_000, 'db', 'rejoin', old, '--reseed');
      assert.equal(rejoin.exitCode, 0, rejoin.stderr);
      const back = await lab.cliWithin(300_000, 'db', 'switchover', '--to', old);
      assert.equal(back.exitCode, 0, back.stderr);
      const status = await json<DbStatus>('db', 'status');
      assert.deepEqual([status.primary, status.health], [old, 'healthy']);
    });

    it('archives a bulk load whole: a 128 MiB transaction’s binary log file sealed by an agent whose heap is capped at 96 MB, and the archive going on after it', async (t) => {
      const { primary } = await readDbState(lab.ctx);
      const bulk = 'foobar_test_bulk';
      const loadedAt = Date.now();
      // One transaction of 128 MiB of rows zstd cannot shrink (RANDOM_BYTES' most is 1 KiB): a
      // transaction is never split between binary log files, so whichever file holds it (the
      // agent closes the open file on its own schedule too) is larger than that.
      const [[gtid = ''] = []] = await sql(
        lab,
        primary,
        [
          `CREATE DATABASE ${bulk}`,
          `CREATE TABLE ${bulk}.loaded (id INT AUTO_INCREMENT PRIMARY KEY, b BLOB)`,
          `INSERT INTO ${bulk}.loaded (b) SELECT RANDOM_BYTES(1024) FROM ${bulk}.seq_1_to_131072`,
          'SELECT @@last_gtid',
          // Closed now rather than at the agent's next flush (binlogFlushSeconds).
          'FLUSH BINARY LOGS',
        ].join('; '),
        300_000,
      );
      const loadSeconds = (Date.now() - loadedAt) / 1000;
      const load = seqOf(gtid);
      assert.ok(load > 0n, `the load's GTID: ${gtid}`);
      try {
        // Sealed within 90 s (the agent seals closed files every few seconds; mariadb-binlog's
        // text of this file is 190 MB, which the agent once held whole and died of).
        const deadline = Date.now() + 90_000;
        const sealedCopy = async (): Promise<ArchivedBinlog | undefined> => {
          for (const b of (await json<BackupCatalog>('db', 'backups')).binlogs)
            if (
              'sealed' in b &&
              b.source === primary &&
              seqOf(b.firstGtid ?? '') <= load &&
              load <= seqOf(b.lastGtid ?? '')
            )
              return b;
          return undefined;
        };
        let sealed = await sealedCopy();
        while (sealed === undefined) {
          assert.ok(Date.now() < deadline, `the file with the bulk load (${gtid}) is never sealed`);
          await sleep(1000);
          sealed = await sealedCopy();
        }
        const sealedSeconds = (Date.now() - loadedAt) / 1000 - loadSeconds;
        assert.ok(
          sealed.sealed.plainBytes > 128 * 1024 * 1024,
          `the sealed file holds the load: ${JSON.stringify(sealed)}`,
        );
        const [after] = await write('after-bulk-load', 1);
        assert.ok(after !== undefined);
        const rpo = await recoverable(Date.now(), 'the archive stopped after the bulk load');
        t.diagnostic(
          `bulk load of 128 MiB in ${loadSeconds.toFixed(1)} s, its ${(sealed.sealed.plainBytes / 1e6).toFixed(0)} MB file (${sealed.name}) sealed ${sealedSeconds.toFixed(1)} s after; a write after it recoverable in ${rpo.toFixed(1)} s`,
        );
      } finally {
        await sql(lab, primary, `DROP DATABASE IF EXISTS ${bulk}`);
      }
    });

    it('refuses to restore onto the live primary without --force, naming it', async () => {
      const { primary } = await readDbState(lab.ctx);
      const result = await lab.cli(
        'db',
        'restore',
        '--at',
        new Date().toISOString(),
        '--to',
        primary,
      );
      assert.notEqual(result.exitCode, 0);
      assert.match(result.stderr, new RegExp(`${primary} is the live primary`));
    });
  });
}
