/**
 * On a booted machine, over SSH only: a firewall change that would cut foobar's SSH undoes itself
 * and foobar says so, a good one is confirmed over a new connection and stays; and the lab's lock
 * on a server, taken by two operators' foobars at once, goes to one of them, the other told who.
 *   npx tsx --test test/machines/guard.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nft } from '../../src/commands/nft.ts';
import { NetnsDriver } from '../../src/drivers/netns.ts';
import { SshDriver } from '../../src/drivers/ssh.ts';
import { LockedError } from '../../src/lib/lock.ts';
import { MACHINE_STATE_DIR } from '../../src/model/layout.ts';
import { FIREWALL_TABLE } from '../../src/render/nftables/index.ts';
import { applyGuarded, FirewallRolledBackError } from '../../src/steps/firewall-guard.ts';
import { withLabLock } from '../../src/steps/lock.ts';
import { ensureImage } from './image.ts';
import { Machines, SSH_PORT, type Machine } from './machines.ts';

const local = new NetnsDriver((host) => {
  throw new Error(`machines tests run commands on this machine only, not in ${host}`);
});
const NET = '10.92.0';
const machines = new Machines({
  driver: local,
  stateDir: '/var/lib/foobar/machines-x',
  bridge: 'fbmx',
  net: NET,
});
/** Short, so the test is quick; foobar's default is 30 s. */
const ROLLBACK_SECONDS = 15;
const ADMIN = `${NET}.1`;

/**
 * foobar's table as the renderer shapes it (input policy drop, established accepted), written
 * here because the renderer still names the lab's interfaces: `ssh` adds the admin's SSH flow.
 */
function ruleset(ssh: boolean): string {
  const table = `${FIREWALL_TABLE.family} ${FIREWALL_TABLE.name}`;
  return `add table ${table}
flush table ${table}
table ${table} {
    chain input {
        type filter hook input priority 0; policy drop;
        iif "lo" accept
        ct state established,related accept
${ssh ? `        ip saddr ${ADMIN} tcp dport ${SSH_PORT} accept comment "admin → every host: the operator’s SSH"\n` : ''}    }
}
`;
}

let m1: Machine;
let dir: string;
const drivers: SshDriver[] = [];

function operator(name: string): SshDriver {
  const state = path.join(dir, name);
  const driver = new SshDriver({
    destinations: { m1: { host: m1.address, user: 'root', port: SSH_PORT } },
    stateDir: state,
    configFile: path.join(dir, 'ssh_config'),
  });
  drivers.push(driver);
  return driver;
}

describe('on a machine, over SSH', { timeout: 15 * 60_000 }, () => {
  before(async () => {
    await machines.down();
    const image = await ensureImage({ driver: local });
    [m1] = machines.plan(1) as [Machine];
    await machines.up([m1], image);
    dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-guard-'));
    writeFileSync(
      path.join(dir, 'ssh_config'),
      `Host *\n  IdentityFile ${machines.access.identity}\n  IdentitiesOnly yes\n`,
    );
  });

  after(async () => {
    for (const driver of drivers) await driver.close();
    await machines.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a firewall that keeps SSH is confirmed over a new connection and stays', async (t) => {
    const ssh = operator('alice');
    const file = '/etc/foobar/nftables.conf';
    await ssh.writeFile('m1', file, ruleset(true));
    const { confirmedMs } = await applyGuarded(ssh, 'm1', file, ROLLBACK_SECONDS);
    t.diagnostic(`confirmed over a new SSH connection ${confirmedMs} ms after applying`);
    // Past the rollback's time, the rules are still the new ones.
    await new Promise((resolve) => setTimeout(resolve, (ROLLBACK_SECONDS + 3) * 1000));
    const listed = await ssh.exec('m1', nft.listTable(FIREWALL_TABLE.family, FIREWALL_TABLE.name));
    assert.match(listed.stdout, new RegExp(`ip saddr ${ADMIN} tcp dport ${SSH_PORT} accept`));
    assert.equal(await ssh.reachAnew('m1', 5000), undefined);
  });

  it('a firewall that would cut SSH is rolled back by the host itself, and foobar says so', async (t) => {
    const ssh = operator('alice');
    const file = '/etc/foobar/nftables.conf';
    await ssh.writeFile('m1', file, ruleset(false));
    const started = Date.now();
    await assert.rejects(applyGuarded(ssh, 'm1', file, ROLLBACK_SECONDS), (error: unknown) => {
      assert.ok(error instanceof FirewallRolledBackError, String(error));
      assert.match(
        error.message,
        new RegExp(
          `^m1: the new firewall cut foobar off \\(no new SSH connection within ${ROLLBACK_SECONDS} s: .*\\); the host restored the previous rules by itself after ${ROLLBACK_SECONDS} s, and foobar reaches it again\\.`,
        ),
      );
      return true;
    });
    const seconds = (Date.now() - started) / 1000;
    t.diagnostic(`rolled back and reached again ${seconds.toFixed(1)} s after applying`);
    // Bound: the rollback's time plus the check that follows it.
    assert.ok(seconds < ROLLBACK_SECONDS + 20, `${seconds} s`);
    const fresh = operator('bob');
    const listed = await fresh.exec(
      'm1',
      nft.listTable(FIREWALL_TABLE.family, FIREWALL_TABLE.name),
    );
    assert.match(
      listed.stdout,
      new RegExp(`ip saddr ${ADMIN} tcp dport ${SSH_PORT} accept`),
      'the previous rules, SSH allowed',
    );
    // And the file the boot loads holds them too: a reboot must not bring the cut-off back.
    assert.match(
      (await fresh.readFile('m1', file)) ?? '',
      new RegExp(`ip saddr ${ADMIN} tcp dport ${SSH_PORT} accept`),
      'the previous rules in the file the boot loads',
    );
  });

  it("two operators' foobars take the server's lock at once: one works, the other is told who holds it", async () => {
    const place = (driver: SshDriver) => ({
      driver,
      target: 'm1',
      dir: path.join(MACHINE_STATE_DIR, 'lock'),
    });
    const alice = operator('alice');
    const bob = operator('bob');
    let release = (): void => undefined;
    const working = new Promise<void>((resolve) => (release = resolve));
    const outcomes = [
      withLabLock(place(alice), 'foobar deploy', () => working).then(() => 'done'),
      withLabLock(place(bob), 'foobar deploy', () => working).then(() => 'done'),
    ].map((p) =>
      p.catch((error: unknown) => {
        assert.ok(error instanceof LockedError, String(error));
        assert.match(
          error.message,
          /`foobar deploy` \(pid \d+\) has held m1:\/var\/lib\/foobar\/lock since \d{4}-\d\d-\d\dT.*, run by \S+ on \S+\. Wait for it to finish\./,
        );
        release();
        return 'refused';
      }),
    );
    // The bound's timer is cleared once they answer: left running, it kept this file's process
    // alive for its whole minute after the last test (60 s of every CI run, idle).
    let bound: NodeJS.Timeout | undefined;
    const results = await Promise.race([
      Promise.all(outcomes),
      new Promise<never>((_, reject) => {
        bound = setTimeout(() => {
          reject(new Error('lock takers hung'));
        }, 60_000);
      }),
    ]).finally(() => {
      clearTimeout(bound);
    });
    assert.deepEqual([...results].sort(), ['done', 'refused']);
    // Released on the server: the next taker gets it.
    assert.equal(await withLabLock(place(bob), 'foobar up', () => Promise.resolve('ran')), 'ran');
    assert.equal(
      await alice.readFile('m1', path.join(MACHINE_STATE_DIR, 'lock', 'holder.json')),
      undefined,
    );
  });
});
