import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  BACKUP_AGENT_STATE_DIR,
  BACKUP_SSH_KEY_SECRET,
  backupHost,
  backupTargets,
} from '../model/backup.ts';
import { dbSecretName } from '../model/database.ts';
import { MANAGER_SSH_KEY_SECRET } from '../model/failover.ts';
import { labPaths } from '../model/layout.ts';
import { addressOf } from '../model/model.ts';
import { exampleModel } from '../model/examples-testing.ts';
import { accessSite, AUTHORIZED_KEYS, OPERATOR_LINE, PUBLIC_KEY } from './ssh-access-testing.ts';
import { unitFor } from '../platform/machines/supervisor.ts';
import { backupTool, daemonsDir } from '../release/daemons.ts';
import { BACKUP_AGENT_ACCESS } from './backup-access.ts';
import { backupAgentDaemon } from './backup.ts';
import { MANAGERS_ACCESS } from './failover-access.ts';
import { accessModel, ensureAccess, revokeAccess, sshFiles } from './ssh-access.ts';

const machines = exampleModel('machines');

/** The example's machines as `up` left them, with both daemons' keys and their passwords. */
const site = (): ReturnType<typeof accessSite> =>
  accessSite(
    machines,
    [BACKUP_SSH_KEY_SECRET, MANAGER_SSH_KEY_SECRET],
    ['backup', 'failover', 'admin'],
  );

describe("the backup agent's SSH access on machines", () => {
  const backup = backupHost(machines);
  assert.ok(backup !== undefined, 'the machines example has a backup host');

  it('is authorized on the database servers and the monitor only, from the backup host only, with the backup password only', async () => {
    const { ctx, driver } = await site();
    assert.match(await ensureAccess(ctx, BACKUP_AGENT_ACCESS), /key authorized on 3 hosts/);
    const targets = backupTargets(machines).map((h) => h.name);
    assert.deepEqual(targets.sort(), ['db-01', 'db-02', 'mon']);
    for (const host of machines.hosts) {
      const lines = ((await driver.readFile(host.name, AUTHORIZED_KEYS)) ?? '').trimEnd();
      if (targets.includes(host.name))
        assert.equal(
          lines,
          `${OPERATOR_LINE}\nfrom="${addressOf(backup, 'core')}",restrict ${PUBLIC_KEY} foobar-backup-agent`,
          host.name,
        );
      else assert.equal(lines, OPERATOR_LINE, `${host.name}: not one the agent acts on`);
    }
    const ssh = sshFiles(BACKUP_AGENT_ACCESS);
    assert.equal(ssh.key, path.join(BACKUP_AGENT_STATE_DIR, 'ssh', 'id_ed25519'));
    assert.equal(driver.mode(backup.name, ssh.key), 0o600);
    assert.equal(
      ((await driver.readFile(backup.name, ssh.knownHosts)) ?? '')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[0])
        .join(' '),
      'db-01 db-02 mon',
    );
    const theirs = labPaths(accessModel(BACKUP_AGENT_ACCESS, machines));
    assert.equal(
      await driver.readFile(backup.name, path.join(theirs.secrets, dbSecretName('backup'))),
      'backup-password-1\n',
    );
    for (const other of ['failover', 'admin'] as const)
      assert.equal(
        await driver.readFile(backup.name, path.join(theirs.secrets, dbSecretName(other))),
        undefined,
        `no ${other} password`,
      );
    assert.equal(await driver.readFile(backup.name, theirs.caCertificate), undefined);
    // Nowhere else.
    for (const host of machines.hosts.filter((h) => h !== backup))
      assert.equal(await driver.readFile(host.name, ssh.key), undefined, host.name);
  });

  it('keeps the failover managers’ line where it is: a second up of both rewrites nothing; down revokes its own only', async () => {
    const { ctx, driver } = await site();
    await ensureAccess(ctx, MANAGERS_ACCESS);
    await ensureAccess(ctx, BACKUP_AGENT_ACCESS);
    assert.equal(await ensureAccess(ctx, MANAGERS_ACCESS), 'up to date');
    assert.equal(await ensureAccess(ctx, BACKUP_AGENT_ACCESS), 'up to date');
    const said = await revokeAccess(ctx, BACKUP_AGENT_ACCESS);
    assert.match(
      said,
      /key revoked on 3 hosts, \/var\/lib\/foobar\/backup-agent deleted on 1 backup hosts/,
    );
    for (const host of ['db-01', 'db-02', 'mon']) {
      const lines = ((await driver.readFile(host, AUTHORIZED_KEYS)) ?? '').split('\n');
      assert.ok(
        lines.some((l) => l.endsWith(' foobar-failover-manager')),
        host,
      );
      assert.ok(!lines.some((l) => l.endsWith(' foobar-backup-agent')), host);
      assert.equal(lines[0], OPERATOR_LINE);
    }
    assert.notEqual(await ctx.secrets.peek(BACKUP_SSH_KEY_SECRET), undefined);
  });

  it('runs the agent with its archive and status writable and nothing else of /var/lib/foobar, and the tool from the bundle on the machines’ Node.js', async () => {
    const { ctx } = await site();
    const unit = unitFor(backupAgentDaemon(ctx, backup)).content;
    // Not the lock, database.json, etcd's data or the failover managers' files beside them.
    assert.match(
      unit,
      /^ReadWritePaths=\/run\/foobar \/var\/lib\/foobar\/backup-status \/var\/lib\/foobar\/binlogs \/var\/lib\/foobar\/full \/var\/lib\/foobar\/spool \/var\/log\/foobar$/m,
    );
    assert.match(unit, /^ProtectSystem=strict$/m);
    assert.deepEqual(backupTool(machines), {
      runtime: '/usr/local/lib/foobar/node',
      file: path.join(daemonsDir(machines), 'backup.mjs'),
    });
  });
});
