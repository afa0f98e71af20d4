/**
 * Encryption behind the edge, for the full backup's stream from a replica to the backup host:
 * while a backup is being taken, a sender on the replica itself (the one address the backup host
 * expects) is refused in clear text, over TLS without a client certificate, and with a lab-CA
 * client certificate that names another host; the backup host says why in its log, stores
 * nothing of theirs, and the backup itself is taken from the replica.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { FullBackup } from '../../src/backup/catalog.ts';
import { backupHost, backupPaths } from '../../src/model/backup.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { addressOf } from '../../src/model/model.ts';
import { coreName, transitFiles, trustedCa } from '../../src/model/transit.ts';
import { readDbState, replicasOf } from '../../src/steps/db/state.ts';
import type { BackupCatalog } from '../../src/steps/backup.ts';
import type { TestLab } from '../support/lab.ts';
import type { Attempt } from '../support/stream-intruder.ts';

export function backupTransitSuite(lab: TestLab): void {
  const backup = backupHost(lab.model)?.name ?? 'backup';

  async function json<T>(...args: string[]): Promise<T> {
    const result = await lab.cliWithin(600_000, ...args, '--json');
    assert.equal(result.exitCode, 0, `foobar ${args.join(' ')}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  }

  describe('encryption behind the edge: the full backup’s stream', () => {
    it('refuses a sender on the replica in clear text, over TLS without a client certificate, or with one naming another host, storing nothing of theirs; the backup is taken', async (t) => {
      const state = await readDbState(lab.ctx);
      const [replica] = replicasOf(lab.ctx, state);
      assert.ok(replica !== undefined, 'a replica to back up');
      const me = lab.host(backup);
      const to = `${addressOf(me, 'core')}:${lab.model.ports.backupStream}`;
      // A valid lab-CA client certificate, but the primary's: it does not name the replica.
      const other = transitFiles(hostPaths(lab.model, state.primary), 'backup-sender');
      const before = await json<BackupCatalog>('db', 'backups');
      const intruder = lab.script(
        replica.name,
        'test/support/stream-intruder.ts',
        [
          '--to',
          to,
          '--ca',
          trustedCa(hostPaths(lab.model, replica.name)),
          '--name',
          coreName(lab.model, me),
          '--cert',
          other.cert,
          '--key',
          other.key,
        ],
        180_000,
      );
      const full = await json<FullBackup>('db', 'backup');
      const tried = await intruder;
      assert.equal(tried.exitCode, 0, tried.stderr);
      const attempts = JSON.parse(tried.stdout) as Attempt[];
      t.diagnostic(`attempts: ${JSON.stringify(attempts)}; backup ${full.id} from ${full.source}`);

      const [plain, noCert, otherCert] = attempts;
      assert.ok(plain !== undefined && noCert !== undefined && otherCert !== undefined);
      assert.equal(plain.open, false, 'clear text is cut off');
      assert.equal(noCert.open, false, 'TLS without a client certificate is cut off');
      assert.match(noCert.ended, /CERTIFICATE_REQUIRED/, 'refused at the handshake');
      assert.equal(otherCert.handshake, true, 'a lab-CA client certificate passes the handshake');
      assert.equal(otherCert.open, false, 'but one naming another host is cut off');

      const log = await lab.cli('logs', backup, 'backup-agent', '-n', '400');
      const replicaAddress = addressOf(replica, 'core');
      const refusals = log.stdout
        .split('\n')
        .filter((line) => line.includes(`refused a sender from ${replicaAddress}`));
      // Newest three: this backup's.
      const lines = refusals.slice(-3);
      assert.equal(lines.length, 3, log.stdout);
      assert.match(lines[0] ?? '', /TLS handshake failed/);
      assert.match(lines[1] ?? '', /TLS handshake failed .*certificate/i);
      assert.match(lines[2] ?? '', new RegExp(`does not name ${coreName(lab.model, replica)}`));

      // The backup is the replica's, and it is the only new file: nothing partial is left.
      assert.equal(full.source, replica.name);
      assert.ok(full.sealed.plainBytes > 1024 * 1024, `${full.sealed.plainBytes} bytes`);
      const after = await json<BackupCatalog>('db', 'backups');
      assert.deepEqual(
        after.backups.map((b) => b.id).filter((id) => !before.backups.some((b) => b.id === id)),
        [full.id],
      );
      const leftovers = readdirSync(backupPaths(lab.model, backup).full).filter((f) =>
        f.endsWith('.part'),
      );
      assert.deepEqual(leftovers, []);
    });
  });
}
