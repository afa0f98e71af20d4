/**
 * The test machines themselves: the cached image, two booted Debian machines reached over SSH
 * only, each reaching the other, one rebooted from inside and back by itself, and `down` leaving
 * nothing. Needs root; the first run builds the image (minutes), later runs take it from the cache.
 *   npx tsx --test test/machines/machines.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsDriver } from '../../src/drivers/netns.ts';
import { SshDriver } from '../../src/drivers/ssh.ts';
import { waitFor } from '../../src/lib/wait.ts';
import { ensureImage, mb, type Image } from './image.ts';
import { Machines, SSH_PORT, type Machine } from './machines.ts';
import { SERVER_PACKAGES } from './packages.ts';

const driver = new NetnsDriver((host) => {
  throw new Error(`machines tests run commands on this machine only, not in ${host}`);
});
/** A cold build measured 6 min on this machine's mirror; the cache answers in well under 1 s. */
const IMAGE_TIMEOUT_MS = 40 * 60_000;
/** Boot to SSH and reboot to SSH measured 9–22 s at a load average of 14 (2 s when idle). */
const BOOT_BOUND_S = 75;

const lines: string[] = [];
const machines = new Machines({ driver, say: (line) => lines.push(line) });
let image: Image;
let m1: Machine;
let m2: Machine;

describe('test machines', { timeout: IMAGE_TIMEOUT_MS + 10 * 60_000 }, () => {
  before(async () => {
    // Machines left by an interrupted run would be in the way.
    await machines.down();
    lines.splice(0);
  });

  after(async () => {
    await machines.down();
  });

  it(
    'builds the image once and takes it from the cache after',
    { timeout: IMAGE_TIMEOUT_MS },
    async (t) => {
      image = await ensureImage({
        driver,
        say: (line) => {
          t.diagnostic(line);
        },
      });
      const again = Date.now();
      const cached = await ensureImage({ driver });
      const cachedMs = Date.now() - again;
      assert.deepEqual(
        cached.stages.map((s) => s.cached),
        [true, true],
      );
      for (const s of image.stages) {
        t.diagnostic(
          `${s.stage}: ${s.cached ? 'from the cache' : `built in ${s.seconds.toFixed(1)} s`}, ${mb(s.bytes)}`,
        );
      }
      t.diagnostic(`image from the cache: ${cachedMs} ms`);
    },
  );

  it('boots two machines that answer over SSH with systemd running', async (t) => {
    [m1, m2] = machines.plan(2) as [Machine, Machine];
    const ready = await machines.up([m1, m2], image);
    for (const line of lines.splice(0)) t.diagnostic(line);
    for (const r of ready) {
      assert.equal(r.state, 'running', `${r.machine.name}: systemctl is-system-running`);
      assert.ok(r.seconds < BOOT_BOUND_S, `${r.machine.name} took ${r.seconds} s to answer`);
      t.diagnostic(
        `${r.machine.name} (${r.machine.address}): boot to SSH-ready ${r.seconds.toFixed(1)} s`,
      );
      const hostname = await machines.run(r.machine, ['hostname']);
      assert.equal(hostname.stdout.trim(), r.machine.name);
    }
    const keys = await Promise.all(
      [m1, m2].map((m) => machines.run(m, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'])),
    );
    assert.notEqual(keys[0]?.stdout, keys[1]?.stdout, 'each machine has its own SSH host key');
  });

  it('machines reach each other by name, and nothing outside the bridge', async () => {
    for (const [from, to] of [
      [m1, m2],
      [m2, m1],
    ] as const) {
      const banner = await machines.run(from, [
        'timeout',
        '5',
        'bash',
        '-c',
        `exec 3<>/dev/tcp/${to.name}/${SSH_PORT} && head -c 8 <&3`,
      ]);
      assert.equal(banner.stdout, 'SSH-2.0-', `${from.name} → ${to.name}:${SSH_PORT}`);
    }
    const routes = await machines.run(m1, ['ip', '-4', 'route', 'show']);
    assert.doesNotMatch(routes.stdout, /^default/m, 'no route out of the bridge');
  });

  it("the servers' packages are all present: installing them again needs no network", async () => {
    const out = await machines.run(
      m1,
      [
        'apt-get',
        '-o',
        'Acquire::Retries=0',
        'install',
        '-y',
        '--no-install-recommends',
        ...SERVER_PACKAGES,
      ],
      120_000,
    );
    assert.match(out.stdout, /^0 upgraded, 0 newly installed/m);
  });

  it("foobar's SSH driver runs a daemon as a transient systemd unit that outlives its connection, its environment in a 0600 file", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-ssh-driver-'));
    // The test machines' key, as a user's SSH config would name it; host keys pinned by foobar.
    const config = path.join(dir, 'ssh_config');
    writeFileSync(
      config,
      `Host *\n  IdentityFile ${machines.access.identity}\n  IdentitiesOnly yes\n`,
    );
    const options = {
      destinations: { m1: { host: m1.address, user: 'root', port: SSH_PORT } },
      stateDir: dir,
      configFile: config,
    };
    const first = new SshDriver(options);
    const again = new SshDriver(options);
    const log = '/var/log/foobar-test/daemon.log';
    try {
      const pid = await first.spawn(
        'm1',
        { argv: ['sh', '-c', 'echo "started with $FOOBAR_TEST_SECRET"; exec sleep 600'] },
        { logFile: log, env: { FOOBAR_TEST_SECRET: 's3cret' } },
      );
      const unit = await first.exec('m1', {
        argv: ['sh', '-c', `systemctl status ${pid} --no-pager --lines=0 | head -1`],
      });
      const name = /foobar-m1-[0-9a-f]+\.service/.exec(unit.stdout)?.[0];
      assert.ok(name !== undefined, `a transient unit of its own: ${unit.stdout}`);
      const mode = await first.exec('m1', { argv: ['stat', '-c', '%a', `${log}.env`] });
      assert.equal(mode.stdout.trim(), '600');
      const exec = await first.exec('m1', { argv: ['systemctl', 'show', '-p', 'ExecStart', name] });
      assert.match(exec.stdout, /FOOBAR_TEST_SECRET/, exec.stdout);
      assert.doesNotMatch(exec.stdout, /s3cret/, 'the secret is on no command line');
      // The connection that started it goes; the daemon stays, and logs where it was told.
      await first.close();
      await waitFor(
        'the daemon’s first line in its log',
        async () => {
          const text = await again.readFile('m1', log);
          return text?.includes('started with s3cret') === true ? undefined : (text ?? 'no log');
        },
        { timeoutMs: 10_000 },
      );
      const alive = await again.exec('m1', { argv: ['kill', '-0', String(pid)] }, { check: false });
      assert.equal(alive.exitCode, 0, `pid ${pid} outlived the connection that started it`);
      await again.exec('m1', { argv: ['kill', String(pid)] });
    } finally {
      await again.exec('m1', { argv: ['rm', '-rf', path.dirname(log)] }, { check: false });
      await first.close();
      await again.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a machine rebooted from inside comes back by itself', async (t) => {
    const seconds = await machines.reboot(m2);
    assert.ok(seconds < BOOT_BOUND_S, `back after ${seconds} s`);
    t.diagnostic(`${m2.name}: reboot to SSH-ready ${seconds.toFixed(1)} s`);
    const state = await machines.run(m2, ['systemctl', 'is-system-running']);
    assert.equal(state.stdout.trim(), 'running');
    for (const m of [m1, m2]) {
      const memory = machines.memory(m);
      assert.ok(memory.processes > 0, `${m.name} has processes in its cgroup`);
      t.diagnostic(
        `${m.name}: memory PSS ${mb(memory.pssBytes)}, RSS ${mb(memory.rssBytes)} (${memory.processes} processes)`,
      );
    }
  });

  it('down leaves nothing: no nspawn, mount, bridge, cgroup or state', async (t) => {
    const started = Date.now();
    await machines.down();
    t.diagnostic(`down: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.deepEqual(await machines.leftovers([m1, m2]), []);
  });
});
