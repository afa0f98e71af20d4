/** The command line as an operator uses it against the running lab. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LabStatus } from '../../src/steps/status.ts';
import type { TestLab } from '../support/lab.ts';

export function cliSuite(lab: TestLab): void {
  describe('the foobar command', () => {
    it('up on a healthy lab changes nothing', async () => {
      const result = await lab.cli('up');
      assert.equal(result.exitCode, 0, result.stderr);
      const tasks = result.stdout.split('\n').filter((line) => line.startsWith('  ✔'));
      const changed = tasks.filter((line) => !/: (up to date|ready|all up) /.test(line));
      assert.deepEqual(changed, []);
      assert.ok(tasks.length >= 6);
    });

    it('status --json reports every host and service healthy, and exits 0', async () => {
      const result = await lab.cli('status', '--json');
      assert.equal(result.exitCode, 0, result.stdout);
      const status = JSON.parse(result.stdout) as LabStatus;
      assert.equal(status.health, 'healthy');
      const lb = status.hosts.find((h) => h.name === 'lb-01');
      assert.deepEqual(
        {
          name: lb?.name,
          roles: lb?.roles,
          addresses: lb?.addresses,
          services: lb?.services.map((s) => ({ name: s.name, healthy: s.healthy })),
        },
        {
          name: 'lb-01',
          roles: ['lb'],
          addresses: {
            edge: lab.host('lb-01').addresses.edge,
            core: lab.host('lb-01').addresses.core,
          },
          services: [
            { name: 'haproxy', healthy: true },
            { name: 'node-exporter', healthy: true },
          ],
        },
      );
      assert.deepEqual(
        status.hosts.find((h) => h.name === 'web-02')?.services.map((s) => [s.name, s.healthy]),
        [
          ['nginx', true],
          ['app', true],
          ['nginx-exporter', true],
          ['node-exporter', true],
        ],
      );
      assert.deepEqual(
        status.hosts.map((h) => h.name).sort(),
        lab.model.hosts.map((h) => h.name).sort(),
      );
    });

    it('exec runs a command inside a host and passes its exit code through', async () => {
      const inside = await lab.cli(
        'exec',
        'web-01',
        '--',
        'ip',
        '-4',
        '-o',
        'addr',
        'show',
        'core',
      );
      assert.equal(inside.exitCode, 0);
      assert.match(inside.stdout, new RegExp(`inet ${lab.host('web-01').addresses.core ?? ''}/`));
      const failing = await lab.cli('exec', 'client', '--', 'sh', '-c', 'exit 7');
      assert.equal(failing.exitCode, 7);
    });

    it('logs shows a service’s log', async () => {
      const result = await lab.cli('logs', 'web-01', 'app', '-n', '5');
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stdout, /"msg":"listening"/);
      const unknown = await lab.cli('logs', 'web-01', 'mysql');
      assert.equal(unknown.exitCode, 64);
      assert.match(
        unknown.stderr,
        /web-01 has no service "mysql" \(it has: nginx, app, nginx-exporter, node-exporter\)/,
      );
    });

    it('refuses an unknown host with the list of hosts', async () => {
      const result = await lab.cli('exec', 'web-99', '--', 'true');
      assert.equal(result.exitCode, 64);
      const hosts = lab.model.hosts.map((h) => h.name).join(', ');
      assert.ok(
        result.stderr.includes(`no host "web-99" in this lab (hosts: ${hosts})`),
        result.stderr,
      );
    });
  });
}
