/**
 * A test file's lab from start to end: brought up before its suites, and the last suite checks
 * what `foobar down` leaves behind (nothing but releases, data and secrets, then nothing at all).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { labNamespaces } from '../../src/model/lab.ts';
import { hostPaths, labPaths } from '../../src/model/layout.ts';
import { hostsWithRole } from '../../src/model/model.ts';
import { removeAppVariants } from '../support/apps.ts';
import { leftovers, traceLab, type LabTrace, type TestLab } from '../support/lab.ts';

/** Brings `lab` up, runs `suites` on it in order, then `foobar down` and its checks. */
export function labLifecycle(lab: TestLab, suites: readonly ((lab: TestLab) => void)[]): void {
  before(async () => {
    // A lab of this name left by an interrupted run would be in the way: remove it first.
    await lab.down();
    await lab.up();
  });

  after(async () => {
    await lab.down(true);
    lab.removeConfig();
    removeAppVariants();
  });

  for (const suite of suites) suite(lab);
  downSuite(lab);
}

function downSuite(lab: TestLab): void {
  describe('foobar down', () => {
    let trace: LabTrace | undefined;

    it('stops everything and leaves no namespace, link, process or /etc/netns entry, and keeps releases, data and secrets', async () => {
      trace = traceLab(lab);
      assert.equal(
        trace.namespaces.size,
        labNamespaces(lab.model).length,
        'every namespace traced',
      );
      // The finder sees a running lab: every recorded daemon, and the exporters, whose command
      // lines do not name the state directory.
      const running = await leftovers(lab, trace);
      for (const { pid, file } of trace.recorded)
        assert.ok(
          running.some((line) => line.startsWith(`process ${pid} `)),
          `${file}: ${pid} found`,
        );
      assert.ok(
        running.some((line) => /\(in namespace [^)]+\): \S*node.exporter/.test(line)),
        running.join('\n'),
      );
      const result = await lab.cli('down');
      assert.equal(result.exitCode, 0, result.stderr);
      assert.deepEqual(await leftovers(lab, trace), []);
      const web = hostsWithRole(lab.model, 'web')[0]?.name ?? '';
      const db = hostsWithRole(lab.model, 'db')[0]?.name ?? '';
      const { secrets } = labPaths(lab.model);
      const kept = {
        releases: readdirSync(hostPaths(lab.model, web).releases).length > 0,
        data: readdirSync(hostPaths(lab.model, db).data).length > 0,
        secrets: readdirSync(secrets).length > 0,
      };
      assert.deepEqual(kept, { releases: true, data: true, secrets: true });
    });

    it('--purge also deletes the state directory', async () => {
      assert.ok(trace !== undefined, 'the lab was traced before down');
      const result = await lab.cli('down', '--purge');
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(existsSync(lab.model.lab.stateDir), false, lab.model.lab.stateDir);
      assert.deepEqual(await leftovers(lab, trace), []);
    });
  });
}
