/** The command line as an operator uses it against the running lab. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { runProcess } from '../../src/drivers/process.ts';
import { waitFor } from '../../src/lib/wait.ts';
import { NETNS_ETC } from '../../src/model/lab.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { hostsWithRole } from '../../src/model/model.ts';
import { killService } from '../../src/faults/inject.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { haproxyFiles } from '../../src/render/haproxy/index.ts';
import { runPlan } from '../../src/steps/plan.ts';
import type { LabStatus } from '../../src/steps/status.ts';
import { upPlan } from '../../src/steps/up.ts';
import type { TestLab } from '../support/lab.ts';

const REPO = path.resolve(import.meta.dirname, '../..');

export function cliSuite(lab: TestLab): void {
  describe('the foobar command', () => {
    it('up on a healthy lab changes nothing', async () => {
      const result = await lab.cli('up');
      assert.equal(result.exitCode, 0, result.stderr);
      const tasks = result.stdout.split('\n').filter((line) => line.startsWith('  ✔'));
      const changed = tasks.filter(
        (line) =>
          !/: (up to date|ready|all up|all evaluated|all held by their owners)\b/.test(line),
      );
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
          services: lb?.services
            .map((s) => ({ name: s.name, healthy: s.healthy }))
            .sort((a, b) => a.name.localeCompare(b.name)),
        },
        {
          name: 'lb-01',
          roles: ['lb'],
          addresses: {
            edge: lab.host('lb-01').addresses.edge,
            core: lab.host('lb-01').addresses.core,
          },
          services: [
            'etcd',
            'failover-manager',
            'firewall-counts',
            'haproxy',
            'keepalived',
            'node-exporter',
          ].map((name) => ({ name, healthy: true })),
        },
      );
      assert.deepEqual(
        status.hosts.find((h) => h.name === 'web-02')?.services.map((s) => [s.name, s.healthy]),
        [
          ['nginx', true],
          ['app', true],
          ['nginx-exporter', true],
          ['node-exporter', true],
          ['firewall-counts', true],
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
        /web-01 has no service "mysql" \(it has: nginx, app, nginx-exporter, node-exporter, firewall-counts\)/,
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

    it('up --dry-run prints what it would run and touches nothing: no state, namespace, link or /etc/netns entry', async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-dry-'));
      const name = `${lab.model.lab.name}d`;
      const stateDir = path.join(dir, 'state');
      const config = path.join(dir, 'foobar.yaml');
      writeFileSync(
        config,
        stringify({
          lab: { name, stateDir },
          networks: {
            edge: { subnet: lab.model.networks.edge.subnet.cidr },
            core: { subnet: lab.model.networks.core.subnet.cidr },
          },
        }),
      );
      try {
        const namespacesBefore = (await runProcess(['ip', 'netns', 'list'])).stdout;
        const result = await runProcess(
          [
            process.execPath,
            path.join(REPO, 'bin/foobar.js'),
            '--config',
            config,
            'up',
            '--dry-run',
          ],
          { timeoutMs: 120_000, env: { ...process.env, NO_COLOR: '1' } },
        );
        assert.equal(result.exitCode, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`\\$ ip netns add ${name}-web-01\\n`));
        assert.match(result.stdout, /haproxy -c /);
        assert.equal(existsSync(stateDir), false, 'no state directory');
        assert.equal(
          existsSync(path.join(NETNS_ETC, `${name}-web-01`)),
          false,
          'no /etc/netns entry',
        );
        assert.equal(
          (await runProcess(['ip', 'link', 'show', `${name}-edge`])).exitCode,
          1,
          'no link',
        );
        const namespacesAfter = (await runProcess(['ip', 'netns', 'list'])).stdout;
        assert.ok(!namespacesAfter.includes(`${name}-`), namespacesAfter);
        // The running lab is untouched too: the same namespaces as before (of this lab).
        const ours = (list: string): string[] =>
          list
            .split('\n')
            .filter((line) => line.startsWith(`${lab.model.lab.name}-`))
            .sort();
        assert.deepEqual(ours(namespacesAfter), ours(namespacesBefore));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('render --out writes every host’s files, the same the lab runs', async () => {
      const out = mkdtempSync(path.join(os.tmpdir(), 'foobar-render-'));
      try {
        const result = await lab.cli('render', '--out', out);
        assert.equal(result.exitCode, 0, result.stderr);
        const written = result.stdout.trim().split('\n');
        for (const host of lab.model.hosts)
          assert.ok(
            written.some((file) => file.startsWith(path.join(out, host.name) + path.sep)),
            `files for ${host.name}`,
          );
        for (const file of written) assert.ok(existsSync(file), file);
        for (const lb of hostsWithRole(lab.model, 'lb')) {
          const live = haproxyFiles(hostPaths(lab.model, lb.name)).config;
          assert.equal(
            readFileSync(path.join(out, lb.name, path.basename(live)), 'utf8'),
            readFileSync(live, 'utf8'),
            `${lb.name}: rendered = running`,
          );
        }
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });

    it('logs -f follows a service’s log as requests arrive', async (t) => {
      const web = hostsWithRole(lab.model, 'web')[0]?.name ?? '';
      const marker = `follow-${randomUUID()}`;
      // Its own process group, so the end is what Ctrl-C does: the CLI and its tail together.
      const child = spawn(
        process.execPath,
        [
          path.join(REPO, 'bin/foobar.js'),
          '--config',
          lab.configFile,
          'logs',
          web,
          'nginx',
          '-f',
          '-n',
          '0',
        ],
        {
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, NO_COLOR: '1' },
        },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      const ended = new Promise((resolve) => child.once('close', resolve));
      const started = Date.now();
      try {
        await waitFor(
          `the request ${marker} in the followed log of ${web}`,
          async () => {
            // Through the load balancer, until one lands on this web server.
            await lab.on('client', [
              'curl',
              '-sS',
              '-o',
              '/dev/null',
              ...lab.siteFlags(),
              `${siteUrl(lab.model)}robots.txt?${marker}`,
            ]);
            return output.includes(marker) ? undefined : 'not in the log yet';
          },
          { timeoutMs: 20_000, intervalMs: 200 },
        );
        t.diagnostic(`followed in ${Date.now() - started} ms`);
      } finally {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGINT');
        await ended;
      }
    });

    it('status exits 2 when the site fails (both load balancers’ HAProxy killed), and up heals it to 0', async (t) => {
      const lbs = hostsWithRole(lab.model, 'lb');
      for (const lb of lbs) await killService(lab.ctx, lb, 'haproxy');
      const failed = await lab.cli('status', '--json');
      assert.equal((JSON.parse(failed.stdout) as LabStatus).health, 'failed', failed.stdout);
      assert.equal(failed.exitCode, 2);
      await runPlan(upPlan(lab.ctx));
      // Healthy again once the alerts the outage raised have resolved.
      const started = Date.now();
      await waitFor(
        'status to be healthy again',
        async () => ((await lab.cli('status')).exitCode === 0 ? undefined : 'not healthy'),
        { timeoutMs: 90_000, intervalMs: 1000 },
      );
      t.diagnostic(`healthy again ${Date.now() - started} ms after up`);
    });
  });
}
