import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RecordingDriver } from '../../drivers/recording.ts';
import { runProcess } from '../../drivers/process.ts';
import { hostPaths, runtimeOf } from '../../model/layout.ts';
import { findHost } from '../../model/model.ts';
import { unitFor, unitOf } from '../../platform/machines/supervisor.ts';
import { createContext } from '../../steps/context.ts';
import type { Daemon } from '../../steps/daemon.ts';
import { daemonsKey } from '../../release/daemons.ts';
import { managerDaemon } from '../../steps/failover.ts';
import { daemonsOf } from '../../steps/services.ts';
import { assertGolden } from '../golden.ts';
import { firewallFile } from '../nftables/index.ts';
import { FIREWALL_UNIT, SYSTEMD_DIR, execLine, renderFirewallUnit } from './index.ts';
import { exampleModel } from '../../model/examples-testing.ts';
import { LOGROTATE_CONFIG } from '../../platform/machines/provision.ts';
import { LOGROTATE_UNIT, renderLogrotateService } from '../logging/index.ts';

const golden = (name: string): string => path.join(import.meta.dirname, '__golden__', name);

const model = exampleModel('machines');
const ctx = createContext(model, new RecordingDriver());

async function everyDaemon(): Promise<Daemon[]> {
  return (await Promise.all(model.hosts.map((host) => daemonsOf(ctx, host)))).flat();
}

async function daemonOf(host: string, service: string): Promise<Daemon> {
  const spec = findHost(model, host);
  assert.ok(spec !== undefined);
  const found = (await daemonsOf(ctx, spec)).find((d) => d.service === service);
  assert.ok(found !== undefined, `${host} runs ${service}`);
  return found;
}

describe('systemd units on machines', () => {
  it('the app slot and the dashboard: units of their own, unprivileged and hardened', async () => {
    const mon = findHost(model, 'mon');
    assert.ok(mon !== undefined);
    for (const [daemon, name] of [
      [await daemonOf('web-01', 'app'), 'app.service'],
      [await daemonOf('mon', 'dashboard'), 'dashboard.service'],
      // Its bundle, shipped by `up` (src/release/daemons.ts), with a small heap.
      [managerDaemon(ctx, mon), 'failover-manager.service'],
    ] as const) {
      const unit = unitFor(daemon);
      assert.equal(path.dirname(unit.path), SYSTEMD_DIR);
      // The bundles' directory is named by a hash of this checkout's sources.
      assertGolden(golden(name), unit.content.replaceAll(daemonsKey(), '<key>'));
    }
    const app = unitFor(await daemonOf('web-01', 'app')).content;
    for (const line of [
      'User=foobar',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'PrivateTmp=yes',
    ])
      assert.match(app, new RegExp(`^${line}$`, 'm'));
  });

  it("Debian's units run foobar's command line and config through a drop-in", async () => {
    for (const [host, service, name] of [
      ['lb-01', 'haproxy', 'haproxy.conf'],
      ['web-01', 'nginx', 'nginx.conf'],
      ['db-01', 'mariadb', 'mariadb.conf'],
      ['mon', 'prometheus', 'prometheus.conf'],
    ] as const) {
      const daemon = await daemonOf(host, service);
      const unit = unitFor(daemon);
      assert.equal(unit.path, path.join(SYSTEMD_DIR, `${unitOf(daemon)}.d`, 'foobar.conf'));
      assertGolden(golden(name), unit.content);
    }
  });

  it('the firewall: loaded at boot before any network, from the file every change writes first', () => {
    const rules = firewallFile(hostPaths(model, 'web-01'));
    assertGolden(golden('firewall.service'), renderFirewallUnit(rules));
  });

  it('quotes ExecStart words as systemd reads them', () => {
    assert.equal(
      execLine(['/bin/echo', 'a b', '$HOME', '100%']),
      '/bin/echo "a b" "$$HOME" "100%%"',
    );
  });

  it('systemd-analyze verify accepts every unit and drop-in, over Debian’s own units', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-units-'));
    try {
      const units = new Set<string>();
      for (const daemon of await everyDaemon()) {
        const unit = unitFor(daemon);
        const file = path.join(dir, path.relative(SYSTEMD_DIR, unit.path));
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, unit.content);
        units.add(unitOf(daemon));
      }
      const firewall = path.join(dir, FIREWALL_UNIT);
      writeFileSync(firewall, renderFirewallUnit(firewallFile(hostPaths(model, 'web-01'))));
      units.add(FIREWALL_UNIT);
      writeFileSync(
        path.join(dir, LOGROTATE_UNIT),
        renderLogrotateService(LOGROTATE_CONFIG, '/var/lib/foobar/logrotate.status'),
      );
      units.add(LOGROTATE_UNIT);
      // Foobar's units first, then the system's (Debian's units and what they need).
      const result = await runProcess(['systemd-analyze', 'verify', ...[...units].sort()], {
        env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
      });
      // This machine has no Node.js at the machines' runtime path: the one line allowed.
      const problems = result.stderr
        .split('\n')
        .filter(
          (line) => line.trim() !== '' && !line.includes(`${runtimeOf(model)} is not executable`),
        );
      assert.deepEqual(problems, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
