/**
 * The test machines themselves: the cached image, two booted Debian machines reached over SSH
 * only, each reaching the other, one rebooted from inside and back by itself, and `down` leaving
 * nothing. Needs root; the first run builds the image (minutes), later runs take it from the cache.
 *   npx tsx --test test/machines/machines.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NetnsDriver } from '../../src/drivers/netns.ts';
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
