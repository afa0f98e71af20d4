/** `foobar up --plan`: what `up` would change, read from the running lab, changing nothing. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hostPaths } from '../../src/model/layout.ts';
import { hostsWithRole } from '../../src/model/model.ts';
import { readPid } from '../../src/platform/lab/process.ts';
import { childPids } from '../../src/probes/process.ts';
import { haproxyFiles } from '../../src/render/haproxy/index.ts';
import type { TestLab } from '../support/lab.ts';

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

export function planSuite(lab: TestLab): void {
  describe('foobar up --plan', () => {
    it('on the running lab: nothing to change, exit 0', async (t) => {
      const started = Date.now();
      const result = await lab.cliWithin(180_000, 'up', '--plan');
      t.diagnostic(`plan of an unchanged lab: ${Date.now() - started} ms`);
      assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
      assert.equal(result.stdout, `lab ${lab.model.lab.name}: nothing to change\n`);
    });

    it('after a tunable changed: the config diff and a reload per load balancer, exit 2, nothing touched', async (t) => {
      const retries = lab.model.lb.retries;
      const changed = lab.extend({ lb: { retries: retries + 1 } }, 'plan');
      const lbs = hostsWithRole(lab.model, 'lb');
      const before = await Promise.all(
        lbs.map(async (lb) => {
          const files = haproxyFiles(hostPaths(lab.model, lb.name));
          const pid = await readPid(lab.ctx.driver, lb.name, files.pid);
          assert.ok(pid !== undefined, `${lb.name}: haproxy runs`);
          return {
            config: files.config,
            sha: sha(files.config),
            pid,
            workers: await childPids(lab.ctx.driver, lb.name, pid),
          };
        }),
      );
      try {
        const started = Date.now();
        const result = await changed.cliWithin(180_000, 'up', '--plan');
        t.diagnostic(`plan with a changed tunable: ${Date.now() - started} ms`);
        assert.equal(result.exitCode, 2, `${result.stdout}\n${result.stderr}`);
        const sections = result.stdout.split(/\n(?=\S)/);
        for (const [i, lb] of lbs.entries()) {
          const section = sections.find((s) => s.startsWith(`${lb.name}\n`)) ?? '';
          assert.match(section, /^ {2}haproxy: reload$/m, result.stdout);
          assert.ok(section.includes(`  changed ${before[i]?.config ?? ''}\n`), result.stdout);
          assert.match(section, new RegExp(`^ {4}- {4}retries ${retries}$`, 'm'));
          assert.match(section, new RegExp(`^ {4}\\+ {4}retries ${retries + 1}$`, 'm'));
        }
        assert.match(result.stdout, /`foobar up` makes them\n$/);
        // Nothing changed on the hosts: the file, the master and its workers are the same.
        for (const [i, lb] of lbs.entries()) {
          const was = before[i];
          assert.ok(was !== undefined);
          assert.equal(sha(was.config), was.sha, `${lb.name}: haproxy.cfg untouched`);
          assert.equal(
            await readPid(lab.ctx.driver, lb.name, haproxyFiles(hostPaths(lab.model, lb.name)).pid),
            was.pid,
          );
          assert.deepEqual(await childPids(lab.ctx.driver, lb.name, was.pid), was.workers);
        }
        const again = await lab.cliWithin(180_000, 'up', '--plan');
        assert.equal(again.exitCode, 0, again.stdout);
      } finally {
        changed.removeConfig();
      }
    });
  });
}
