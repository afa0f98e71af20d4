/**
 * The machines platform against a booted Debian 12 machine, reached over SSH only: provisioning
 * (twice: the second run changes nothing), a daemon as Debian's systemd unit with foobar's drop-in
 * (started, reloaded, back after a reboot because it is enabled), a unit of foobar's own for the
 * app's slot (unprivileged, hardened), and a fenced unit masked. Needs root and the cached image.
 *   npx tsx --test test/machines/systemd.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsDriver } from '../../src/drivers/netns.ts';
import { SshDriver } from '../../src/drivers/ssh.ts';
import { buildModel } from '../../src/model/build.ts';
import { findHost, type Host } from '../../src/model/model.ts';
import { unitOf } from '../../src/platform/machines/supervisor.ts';
import { provisionMachine } from '../../src/platform/machines/provision.ts';
import { createContext, type Context } from '../../src/steps/context.ts';
import { ensureDaemon, runningPid, stopDaemon, type Daemon } from '../../src/steps/daemon.ts';
import { appDaemon, nginxDaemon } from '../../src/steps/services.ts';
import { ensureCertificates } from '../../src/steps/tls.ts';
import { ensureServiceCertificate } from '../../src/steps/transit.ts';
import { childPids } from '../../src/probes/process.ts';
import { waitFor } from '../../src/lib/wait.ts';
import { ensureImage, type Image } from './image.ts';
import { Machines, type Machine } from './machines.ts';

const local = new NetnsDriver((host) => {
  throw new Error(`machines tests run commands on this machine only, not in ${host}`);
});
const NET = '10.91.0';
const machines = new Machines({
  driver: local,
  stateDir: '/var/lib/foobar/machines-p',
  bridge: 'fbmp',
  net: NET,
});
/** A cold image build measured 6 min; from the cache, well under a second. */
const IMAGE_TIMEOUT_MS = 40 * 60_000;
/** Provisioning a machine measured 9 s (the runtime's copy) at a load average of 15. */
const PROVISION_BOUND_MS = 120_000;

let image: Image;
let machine: Machine;
let dir: string | undefined;
let ctx: Context;
let web: Host;

/** A machines model whose web-01 is the booted machine (the other hosts are never contacted). */
function machinesModel(address: string, stateDir: string, sshConfig: string) {
  const core = (n: number): string => `${NET}.${n}`;
  return buildModel({
    platform: 'machines',
    machines: {
      name: 'fbp',
      stateDir,
      sshConfig,
      ssh: { user: 'root', port: 22 },
      // The machine has no route out: every package is in the image.
      resolvers: [],
      timeServers: [],
      mirrors: [],
    },
    networks: { edge: { subnet: '10.91.1.0/24' }, core: { subnet: `${NET}.0/24` } },
    admin: { edge: '10.91.1.1', core: core(1) },
    hosts: {
      'lb-01': {
        roles: ['lb', 'dns'],
        ssh: { host: core(111) },
        edge: '10.91.1.11',
        core: core(111),
      },
      'lb-02': {
        roles: ['lb', 'dns'],
        ssh: { host: core(112) },
        edge: '10.91.1.12',
        core: core(112),
      },
      'web-01': { roles: ['web'], ssh: { host: address }, core: address },
      'web-02': { roles: ['web'], ssh: { host: core(122) }, core: core(122) },
      'db-01': { roles: ['db'], ssh: { host: core(131) }, core: core(131) },
      'db-02': { roles: ['db'], ssh: { host: core(132) }, core: core(132) },
      mon: { roles: ['mon'], ssh: { host: core(190) }, edge: '10.91.1.90', core: core(190) },
    },
    vrrp: { virtualAddresses: { 'lb-01': '10.91.1.10', 'lb-02': '10.91.1.20' } },
  });
}

async function unitState(daemon: Daemon, what: 'is-enabled' | 'is-active'): Promise<string> {
  const result = await ctx.driver.exec(
    daemon.host,
    { argv: ['systemctl', what, unitOf(daemon)] },
    { check: false },
  );
  return result.stdout.trim();
}

describe(
  'machines platform: systemd and provisioning',
  { timeout: IMAGE_TIMEOUT_MS + 10 * 60_000 },
  () => {
    before(async () => {
      await machines.down();
      image = await ensureImage({ driver: local });
      [machine] = machines.plan(['web-01']) as [Machine];
      await machines.up([machine], image);
      const scratch = mkdtempSync(path.join(os.tmpdir(), 'foobar-machines-p-'));
      dir = scratch;
      const sshConfig = path.join(scratch, 'ssh_config');
      writeFileSync(
        sshConfig,
        `Host *\n  IdentityFile ${machines.access.identity}\n  IdentitiesOnly yes\n`,
      );
      const model = machinesModel(machine.address, path.join(scratch, 'state'), sshConfig);
      ctx = createContext(model);
      const host = findHost(model, 'web-01');
      assert.ok(host !== undefined);
      web = host;
    });

    after(async () => {
      if (ctx.driver instanceof SshDriver) await ctx.driver.close();
      await machines.down();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('provisions a fresh Debian 12 machine, and a second run changes nothing and says so', async (t) => {
      const check = ctx.platform.provision(ctx).preflight.find((t) => t.title === web.name);
      // The image's /etc/resolv.conf names this machine's resolver, which the model does not
      // (the machine has no route out): preflight says so, and goes on.
      assert.match(
        (await check?.run()) ?? '',
        /^Debian 12, reachable over SSH(; its \/etc\/resolv\.conf names .*, which machines\.resolvers does not: .*)?$/,
      );
      let started = Date.now();
      const first = await provisionMachine(ctx, web.name);
      const firstMs = Date.now() - started;
      t.diagnostic(`first run (${firstMs} ms): ${first}`);
      assert.match(first, /user foobar created/);
      assert.match(first, /Node\.js v24/);
      assert.match(first, /firewall loaded at boot/);
      const boot = await ctx.driver.exec(web.name, {
        argv: ['systemctl', 'is-enabled', 'foobar-firewall.service'],
      });
      assert.equal(boot.stdout.trim(), 'enabled', 'the firewall is loaded at every boot');
      assert.doesNotMatch(first, /packages installed/, 'the image has every package');
      assert.ok(firstMs < PROVISION_BOUND_MS, `${firstMs} ms`);
      started = Date.now();
      const second = await provisionMachine(ctx, web.name);
      t.diagnostic(`second run (${Date.now() - started} ms): ${second}`);
      assert.match(second, /^up to date \(\d+ packages present\)$/);
      const node = await ctx.driver.exec(web.name, {
        argv: [
          'setpriv',
          '--reuid=foobar',
          '--regid=foobar',
          '--clear-groups',
          '/usr/local/lib/foobar/node',
          '--version',
        ],
      });
      assert.equal(
        node.stdout.trim(),
        process.version,
        'the foobar user runs this checkout’s Node.js',
      );
    });

    it("runs Nginx as Debian's unit with foobar's drop-in: started, enabled, reloaded through systemctl", async (t) => {
      const nginx = nginxDaemon(ctx, web, 'blue');
      assert.equal(unitOf(nginx), 'nginx.service');
      // Debian's nginx ran with its default site since boot: foobar's config replaces it.
      // The image leaves Debian's units disabled and stopped (as a fresh install with foobar's
      // provisioning would): foobar starts it, with its config. Its config serves the core
      // network over TLS: the certificate `up` issues before the daemons, first.
      await ensureCertificates(ctx, true);
      assert.equal(await ensureServiceCertificate(ctx, web, 'nginx'), true);
      assert.equal(await ensureDaemon(ctx, nginx), 'started');
      assert.equal(await unitState(nginx, 'is-enabled'), 'enabled');
      assert.equal(await ensureDaemon(ctx, nginx), 'running', 'a second run changes nothing');
      const pid = await runningPid(ctx, nginx);
      assert.ok(pid !== undefined);
      const workers = await childPids(ctx.driver, web.name, pid);
      const file = nginx.files[0];
      assert.ok(file !== undefined);
      const changed: Daemon = {
        ...nginx,
        files: [{ ...file, content: `${file.content}\n# changed\n` }],
      };
      const started = Date.now();
      assert.equal(await ensureDaemon(ctx, changed), 'reloaded');
      t.diagnostic(`reload through systemctl: ${Date.now() - started} ms`);
      assert.equal(await runningPid(ctx, changed), pid, 'the same master');
      const now = await childPids(ctx.driver, web.name, pid);
      assert.ok(
        now.every((w) => !workers.includes(w)),
        'new workers',
      );
      assert.equal(await ensureDaemon(ctx, nginx), 'reloaded', "back to foobar's config");
      const journal = await ctx.platform.supervisor.logs(ctx, [nginx], {
        lines: 20,
        follow: false,
      });
      assert.ok(journal !== undefined);
      // The unit's journal, then the access and error logs Nginx writes itself.
      const shown = await ctx.driver.exec(journal.target ?? web.name, journal.command);
      assert.match(shown.stdout, /^==> journalctl -u nginx\.service <==$/m);
      for (const file of nginx.logs)
        assert.ok(shown.stdout.includes(`==> ${file} <==`), `${file} in:\n${shown.stdout}`);
    });

    it("runs the app's slot as a unit of foobar's own, unprivileged and hardened", async () => {
      const app = appDaemon(ctx, web, 'blue', 'none');
      assert.equal(unitOf(app), 'foobar-app-blue.service');
      await ctx.platform.supervisor.install(ctx, app);
      assert.equal(await unitState(app, 'is-enabled'), 'enabled');
      const shown = await ctx.driver.exec(web.name, {
        argv: [
          'systemctl',
          'show',
          '--property=User,NoNewPrivileges,ProtectSystem,PrivateTmp',
          unitOf(app),
        ],
      });
      assert.deepEqual(shown.stdout.trim().split('\n').sort(), [
        'NoNewPrivileges=yes',
        'PrivateTmp=yes',
        'ProtectSystem=strict',
        'User=foobar',
      ]);
      // No release is installed here: its start fails, and says so with the journal's lines.
      await assert.rejects(
        ensureDaemon(ctx, app),
        /web-01: app exited while starting\njournalctl -u foobar-app-blue\.service:.*Cannot find module '\/srv\/foobar\/releases\/none\/server\.mjs'/s,
      );
      await stopDaemon(ctx, app);
    });

    it('brings Nginx back by itself after a reboot (enabled), and a fenced unit stays down', async (t) => {
      const nginx = nginxDaemon(ctx, web, 'blue');
      const seconds = await machines.reboot(machine);
      t.diagnostic(`reboot to SSH-ready: ${seconds.toFixed(1)} s`);
      try {
        await waitFor(
          'nginx back after the reboot',
          async () =>
            (await runningPid(ctx, nginx)) === undefined ? 'not running' : nginx.probe(ctx),
          { timeoutMs: 60_000 },
        );
      } catch (error) {
        const status = await ctx.driver.exec(
          web.name,
          { argv: ['systemctl', 'status', '--no-pager', '--lines=30', 'nginx.service'] },
          { check: false },
        );
        throw new Error(`${(error as Error).message}\n${status.stdout}${status.stderr}`, {
          cause: error,
        });
      }
      assert.equal(
        await ensureDaemon(ctx, nginx),
        'running',
        'with foobar’s config, nothing to do',
      );
      await ctx.platform.supervisor.fence(ctx, nginx);
      assert.equal(await unitState(nginx, 'is-enabled'), 'masked');
      assert.ok((await ctx.platform.supervisor.kill(ctx, nginx)) !== undefined);
      const start = await ctx.driver.exec(
        web.name,
        { argv: ['systemctl', 'start', 'nginx.service'] },
        { check: false },
      );
      assert.notEqual(start.exitCode, 0, 'a masked unit cannot be started');
      assert.match(start.stderr, /masked/);
      assert.equal(await runningPid(ctx, nginx), undefined);
      // foobar starting it again is the decision that it is no longer fenced.
      assert.equal(await ensureDaemon(ctx, nginx), 'started');
      assert.equal(await unitState(nginx, 'is-enabled'), 'enabled');
    });
  },
);
