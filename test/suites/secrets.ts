/**
 * `foobar secrets rotate`: every database password changed while visitors read and write, with
 * no failed request; afterwards the old passwords are refused and every user of them works.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { summarizeVisits } from '../../src/load/visits.ts';
import { dbSecretName, type DbUser } from '../../src/model/database.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { addressOf, hostsWithRole } from '../../src/model/model.ts';
import { trustedCa } from '../../src/model/transit.ts';
import { readDbState } from '../../src/steps/db/state.ts';
import { assertEveryAckedOnce, sqlAs, visitorsAround, waitCaughtUp } from '../support/db.ts';
import { assertServed, type TestLab } from '../support/lab.ts';

/** The accounts a test can log in with over the network, and from where. */
const NETWORK_ACCOUNTS: readonly { user: Exclude<DbUser, 'admin' | 'monitor'>; from: string }[] = [
  { user: 'app', from: 'web-01' },
  { user: 'replication', from: 'db-01' },
  { user: 'failover', from: 'mon' },
  { user: 'backup', from: 'backup' },
];
const ROTATED = ['app', 'replication', 'failover', 'monitor', 'backup', 'admin'] as const;

export function secretsSuite(lab: TestLab): void {
  describe('secrets rotation', () => {
    const secretOf = (user: DbUser): string =>
      readFileSync(lab.ctx.secrets.pathOf(dbSecretName(user)), 'utf8').trim();

    it('rotates every database password under load (the backup agent’s too): no failed request, no write lost, the old passwords refused after', async (t) => {
      const { primary, fenced } = await readDbState(lab.ctx);
      const replicas = hostsWithRole(lab.model, 'db')
        .map((h) => h.name)
        .filter((name) => name !== primary && !fenced.includes(name));
      const old = Object.fromEntries(ROTATED.map((u) => [u, secretOf(u)]));
      for (const { user, from } of NETWORK_ACCOUNTS) {
        const before = await sqlAs(lab, user, from, primary, 'SELECT 1');
        assert.equal(before.exitCode, 0, `${user} logs in before: ${before.stderr}`);
      }

      const prefix = `rotate-${process.pid}`;
      // A little load after the old passwords are gone: new logins use the new ones.
      const {
        result: rotated,
        seconds,
        report,
      } = await visitorsAround(lab, prefix, () => lab.cli('secrets', 'rotate'));
      const served = summarizeVisits(report);
      t.diagnostic(
        JSON.stringify({
          rotateSeconds: seconds,
          requests: served.requests,
          kinds: Object.fromEntries(
            (['page', 'read', 'write'] as const).map((k) => [k, served.kinds[k]]),
          ),
        }),
      );
      assert.equal(rotated.exitCode, 0, rotated.stderr);
      for (const user of ROTATED) {
        assert.match(rotated.stdout, new RegExp(`^${dbSecretName(user)} rotated in `, 'm'));
        assert.notEqual(secretOf(user), old[user], `${user}: a new password`);
        for (const value of [old[user] ?? '', secretOf(user)]) {
          assert.ok(
            !rotated.stdout.includes(value) && !rotated.stderr.includes(value),
            'no password printed',
          );
        }
      }
      assertServed(served, ['page', 'read', 'write'], 5);
      assert.ok(report.acked.length > 0, 'writes were acknowledged');
      await assertEveryAckedOnce(lab, primary, prefix, report);

      for (const { user, from } of NETWORK_ACCOUNTS) {
        const refused = await sqlAs(lab, user, from, primary, 'SELECT 1', old[user]);
        assert.notEqual(refused.exitCode, 0, `${user}: the old password is refused`);
        assert.match(refused.stderr, /Access denied/);
        const now = await sqlAs(lab, user, from, primary, 'SELECT 1');
        assert.equal(now.exitCode, 0, `${user} logs in with the new password: ${now.stderr}`);
      }
      // The replicas replicate (with the new password: the I/O thread logged in again), and
      // the exporters read the servers with theirs.
      for (const replica of replicas) await waitCaughtUp(lab, replica, primary);
      // (Of the servers in service: a fenced one's MariaDB may be stopped.)
      for (const name of [primary, ...replicas]) {
        const target = `https://${addressOf(lab.host(name), 'core')}:${lab.model.ports.mysqldExporter}/metrics`;
        const ca = trustedCa(hostPaths(lab.model, 'mon'));
        const metrics = await lab.on('mon', ['curl', '-s', '--cacert', ca, target]);
        assert.match(metrics.stdout, /^mysql_up 1$/m, `${name}: the exporter logs in`);
      }
      const list = await lab.cli('secrets', 'list');
      assert.doesNotMatch(list.stdout, /\.previous/);
      // Replication as before the rotation (an earlier suite may have left a server fenced).
      const status = await lab.cli('db', 'status');
      assert.doesNotMatch(status.stdout, /does not replicate|stopped|error/i, status.stdout);
    });
  });
}
