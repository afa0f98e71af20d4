import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { HostsDriver } from '../drivers/hosts-testing.ts';
import { RecordingDriver } from '../drivers/recording.ts';
import { buildModel } from '../model/build.ts';
import { dbSecretName } from '../model/database.ts';
import {
  failoverMembers,
  managedHosts,
  managerModel,
  MANAGER_SSH_KEY_SECRET,
  MANAGER_STATE_DIR,
} from '../model/failover.ts';
import { labPaths } from '../model/layout.ts';
import { parseConfigText } from '../model/load.ts';
import { addressOf, type Model } from '../model/model.ts';
import { createContext, type Context } from './context.ts';
import {
  ensureManagerAccess,
  managerSshFiles,
  refreshManagerSecrets,
  revokeManagerAccess,
} from './failover-access.ts';
import { exampleModel } from '../model/examples-testing.ts';
import { accessSite, AUTHORIZED_KEYS, OPERATOR_LINE, PUBLIC_KEY } from './ssh-access-testing.ts';

const machines = exampleModel('machines');

/** A site `up` has reached once (steps/ssh-access-testing.ts). */
function site(model: Model): Promise<{ ctx: Context; driver: HostsDriver }> {
  return accessSite(model, [MANAGER_SSH_KEY_SECRET], ['failover', 'admin']);
}

describe("the failover managers' SSH access on machines", () => {
  it('authorizes their key from the members only and restricted, beside the operator’s; a second run changes nothing', async () => {
    const { ctx, driver } = await site(machines);
    const result = await ensureManagerAccess(ctx);
    assert.match(result, /key authorized on \d+ hosts, installed on \d+ members/);
    const from = failoverMembers(machines)
      .map((m) => addressOf(m, 'core'))
      .join(',');
    assert.ok(managedHosts(machines).length > 0);
    for (const host of managedHosts(machines)) {
      const lines = ((await driver.readFile(host.name, AUTHORIZED_KEYS)) ?? '')
        .trimEnd()
        .split('\n');
      assert.equal(lines[0], OPERATOR_LINE, host.name);
      assert.match(lines[1] ?? '', new RegExp(`^from="${from}",restrict ${PUBLIC_KEY} `));
      assert.equal(lines.length, 2, host.name);
      assert.equal(driver.mode(host.name, AUTHORIZED_KEYS), 0o600);
    }
    const theirs = labPaths(managerModel(machines));
    for (const member of failoverMembers(machines)) {
      const ssh = managerSshFiles();
      assert.equal(driver.mode(member.name, ssh.key), 0o600);
      assert.match((await driver.readFile(member.name, ssh.knownHosts)) ?? '', /^db-01 /m);
      const secret = path.join(theirs.secrets, dbSecretName('failover'));
      assert.equal(await driver.readFile(member.name, secret), 'failover-password-1\n');
      assert.equal(driver.mode(member.name, secret), 0o600);
    }
    // Nothing anywhere else: the key is on the members only.
    const others = machines.hosts.filter((h) => !failoverMembers(machines).includes(h));
    for (const host of others)
      assert.equal(await driver.readFile(host.name, managerSshFiles().key), undefined, host.name);
    assert.equal(await ensureManagerAccess(ctx), 'up to date');
  });

  it('refuses to install them without every host key pinned, naming what is missing', async () => {
    const { ctx, driver } = await site(machines);
    const file = path.join(machines.lab.stateDir, 'ssh', 'known_hosts');
    await driver.writeFile(
      null,
      file,
      ((await driver.readFile(null, file)) ?? '').replace(/^db-02 .*\n/m, ''),
    );
    await assert.rejects(ensureManagerAccess(ctx), /pins no host key for db-02/);
  });

  it('a rotated password reaches the members’ copies; the lab has none to refresh', async () => {
    const { ctx, driver } = await site(machines);
    await ensureManagerAccess(ctx);
    await ctx.secrets.set(dbSecretName('failover'), 'failover-password-2');
    const said = await refreshManagerSecrets(ctx);
    assert.match(said ?? '', /replaced on \d+ of \d+ members/);
    const secret = path.join(labPaths(managerModel(machines)).secrets, dbSecretName('failover'));
    for (const member of failoverMembers(machines))
      assert.equal(await driver.readFile(member.name, secret), 'failover-password-2\n');
    const lab = buildModel(parseConfigText('{}', 'foobar.yaml'));
    assert.equal(await refreshManagerSecrets(createContext(lab, new RecordingDriver())), undefined);
  });

  it('down revokes them: only their line leaves authorized_keys, their directory leaves the members, the key pair stays here', async () => {
    const { ctx, driver } = await site(machines);
    await ensureManagerAccess(ctx);
    const said = await revokeManagerAccess(ctx);
    assert.match(said, new RegExp(`key revoked on ${managedHosts(machines).length} hosts`));
    for (const host of managedHosts(machines))
      assert.equal(await driver.readFile(host.name, AUTHORIZED_KEYS), `${OPERATOR_LINE}\n`);
    for (const member of failoverMembers(machines))
      assert.equal(await driver.readFile(member.name, managerSshFiles().key), undefined);
    assert.ok(driver.calls.some((c) => c.endsWith(`remove ${MANAGER_STATE_DIR}`)));
    assert.notEqual(await ctx.secrets.peek(MANAGER_SSH_KEY_SECRET), undefined);
    // Nothing left to revoke the second time.
    assert.match(await revokeManagerAccess(ctx), /key revoked on 0 hosts/);
  });
});
