/**
 * Data safety through real clients: guestbook rows written through the site, a full backup, more
 * rows, a bad migration's DELETE of every message, rows after it; then a point-in-time restore
 * onto the backup host's scratch server, counted with the mariadb client there.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupHost } from '../../src/model/backup.ts';
import { sleep } from '../../src/lib/wait.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { readDbState } from '../../src/steps/db/state.ts';
import type { FullBackup } from '../../src/backup/catalog.ts';
import type { BackupCatalog, RestoreReport } from '../../src/steps/backup.ts';
import type { DbStatus } from '../../src/steps/db/status.ts';
import { sql } from '../support/db.ts';
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

  async function json<T>(...args: string[]): Promise<T> {
    const result = await lab.cliWithin(600_000, ...args, '--json');
    assert.ok([0, 1].includes(result.exitCode), `foobar ${args.join(' ')}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  }

  /** This run's rows on the restored scratch server, counted with the mariadb client there. */
  async function restoredRows(socket: string): Promise<Set<string>> {
    const result = await lab.on(backup, [
      'mariadb',
      '--no-defaults',
      `--socket=${socket}`,
      '--user=root',
      '--batch',
      '--skip-column-names',
      '-e',
      `SELECT text FROM ${lab.model.database.schema}.messages WHERE text LIKE '${run} %'`,
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    return new Set(result.stdout.split('\n').filter((line) => line !== ''));
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

      // The archive reaches past the last write (RPO), as db status says.
      const writtenBy = Date.now();
      const deadline = writtenBy + 60_000;
      let status = await json<DbStatus>('db', 'status');
      while (Date.parse(status.backups?.recoverableAt ?? '') < writtenBy) {
        assert.ok(Date.now() < deadline, `archive not current: ${JSON.stringify(status.backups)}`);
        await sleep(500);
        status = await json<DbStatus>('db', 'status');
      }
      const rpoSeconds = (Date.now() - writtenBy) / 1000;

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
