import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { RecordingDriver } from '../drivers/recording.ts';
import { buildModel } from '../model/build.ts';
import { createContext } from './context.ts';
import { simulatedDatabases } from './db/simulate.ts';
import { simulatedBackups } from './backup.ts';
import { runPlan } from './plan.ts';
import { upPlan } from './up.ts';
import { allOf, simulatedKeepalived } from './vrrp-simulate.ts';

describe('upPlan on a simulated fresh machine', async () => {
  const builds = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-up-test-'));
  after(() => fs.rm(builds, { recursive: true, force: true }));
  const model = buildModel({ hosts: { 'web-03': { roles: ['web'], core: 23 } } });
  const driver = new RecordingDriver(
    allOf(simulatedDatabases(model), simulatedKeepalived(model), simulatedBackups()),
    {
      simulate: true,
    },
  );
  // The daemons' bundles are built in the scratch directory too: the default model's state
  // directory is /var/lib/foobar/fb, which a unit test must not leave behind.
  const ctx = { ...createContext(model, driver), scratchBuilds: path.join(builds, 'daemons') };
  await runPlan(upPlan(ctx, { buildsDir: builds }));
  const calls = driver.calls;
  const index = (pattern: RegExp): number => calls.findIndex((line) => pattern.test(line));

  it('checks each config with the daemon’s own checker before starting it', () => {
    for (const host of ['lb-01', 'lb-02']) {
      const check = index(
        new RegExp(`^\\[${host}\\] \\$ haproxy -c -q -dW -f .*/hosts/${host}/etc/haproxy.cfg$`),
      );
      const start = index(new RegExp(`^\\[${host}\\] spawn haproxy -W -f `));
      assert.ok(check !== -1 && start > check, `${host}: check at ${check}, start at ${start}`);
    }
    for (const host of ['lb-01', 'lb-02']) {
      const check = index(
        new RegExp(
          `^\\[${host}\\] \\$ keepalived --config-test -f .*/hosts/${host}/etc/keepalived.conf$`,
        ),
      );
      const start = index(new RegExp(`^\\[${host}\\] spawn keepalived --vrrp --dont-fork `));
      assert.ok(check !== -1 && start > check, `${host}: check at ${check}, start at ${start}`);
    }
    const check = index(/^\[web-03\] \$ nginx .* -t -q$/);
    const start = index(/^\[web-03\] spawn nginx .* -g 'daemon off;'/);
    assert.ok(check !== -1 && start > check);
  });

  it('copies one release to every web server, verifies it, and runs the app unprivileged', () => {
    const copies = calls.filter((line) =>
      / copy .*\/[0-9a-f]{12}\/ -> .*\/releases\/[0-9a-f]{12}\/$/.test(line),
    );
    assert.deepEqual(copies.map((line) => line.slice(1, line.indexOf(']'))).sort(), [
      'web-01',
      'web-02',
      'web-03',
    ]);
    assert.equal(
      calls.filter((line) => /^\[web-\d+\] \$ find .* -exec sha256sum -- /.test(line)).length,
      3,
    );
    const app = calls.find((line) => line.startsWith('[web-02] spawn setpriv'));
    assert.match(
      app ?? '',
      /^\[web-02\] spawn setpriv --reuid=foobar --regid=foobar --init-groups -- \/var\/lib\/foobar\/fb\/runtime\/node --max-semi-space-size=8 --max-old-space-size=128 \/var\/lib\/foobar\/fb\/hosts\/web-02\/releases\/[0-9a-f]{12}\/server.mjs >> /,
    );
  });

  it('checks Prometheus’ and Alertmanager’s configs, then runs the monitoring as unprivileged users', () => {
    const check = index(
      /^\[mon\] \$ promtool check config --lint=all --lint-fatal .*\/hosts\/mon\/etc\/prometheus.yml$/,
    );
    const start = index(
      /^\[mon\] spawn setpriv --reuid=prometheus .* -- prometheus --config.file=/,
    );
    assert.ok(check !== -1 && start > check, `check at ${check}, start at ${start}`);
    assert.ok(index(/^\[mon\] \$ amtool check-config /) !== -1);
    assert.ok(
      index(
        /^\[mon\] spawn setpriv --reuid=foobar .* -- \/var\/lib\/foobar\/fb\/runtime\/node --max-semi-space-size=2 --max-old-space-size=96 --memory-saver-mode \/var\/lib\/foobar\/fb\/hosts\/mon\/dashboard\/server.mjs \/var\/lib\/foobar\/fb\/hosts\/mon\/etc\/dashboard.json >> /,
      ) !== -1,
    );
    // An exporter beside each web server's Nginx; a node exporter on every server but the client.
    const spawned = (program: string): string[] =>
      calls
        .filter((line) =>
          line.includes(
            `spawn setpriv --reuid=prometheus --regid=prometheus --init-groups -- ${program} `,
          ),
        )
        .map((line) => line.slice(1, line.indexOf(']')))
        .sort();
    assert.deepEqual(spawned('prometheus-nginx-exporter'), ['web-01', 'web-02', 'web-03']);
    assert.deepEqual(spawned('prometheus-mysqld-exporter'), ['db-01', 'db-02']);
    assert.deepEqual(spawned('prometheus-node-exporter'), [
      'backup',
      'db-01',
      'db-02',
      'dns',
      'dns-02',
      'lb-01',
      'lb-02',
      'mon',
      'web-01',
      'web-02',
      'web-03',
    ]);
  });

  it('creates a namespace per host and wires web servers to the core network only', () => {
    assert.equal(
      calls.filter((line) => line.includes('$ ip netns add fb-')).length,
      ctx.model.hosts.length + 1,
    );
    assert.ok(
      calls.includes(
        '[local] $ ip link add core netns fb-web-03 type veth peer name web-03-c netns fb-net',
      ),
    );
    assert.ok(!calls.some((line) => line.includes('ip link add edge netns fb-web-03')));
  });

  it('builds the edge: resolvers, CA, firewalls checked then applied, NSD checked', () => {
    const state = '/var/lib/foobar/fb';
    const wrote = (file: string, mode: string): boolean =>
      calls.some((c) => c.startsWith(`[local] write ${file} (`) && c.endsWith(`, mode ${mode})`));
    assert.ok(wrote('/etc/netns/fb-client/resolv.conf', '644'));
    assert.ok(wrote(`${state}/secrets/ca.key`, '600'));
    assert.ok(wrote(`${state}/secrets/site.key`, '600'));
    for (const host of ctx.model.hosts) {
      const file = `${state}/hosts/${host.name}/etc/nftables.conf`;
      const check = calls.indexOf(`[${host.name}] $ nft -c -f ${file}`);
      assert.ok(check >= 0 && calls.indexOf(`[${host.name}] $ nft -f ${file}`) > check, host.name);
    }
    const checked = calls.indexOf(
      `[dns] $ nsd-checkzone foobar.com ${state}/hosts/dns/etc/foobar.com.zone`,
    );
    assert.ok(checked >= 0 && index(/^\[dns\] spawn nsd -d -c /) > checked);
    assert.ok(
      index(/^\[lb-01\] write \S+\/lb-01\/etc\/tls\/site\.pem \(\d+ bytes, mode 600\)$/) >= 0,
    );
  });

  it('does nothing the second time', async () => {
    const before = calls.length;
    await runPlan(upPlan(ctx, { buildsDir: builds }));
    const changes = calls
      .slice(before)
      .filter((line) =>
        / (spawn|write|copy|symlink) |\$ (ip netns add|kill|ip link add)/.test(line),
      );
    assert.deepEqual(changes, []);
  });
});
