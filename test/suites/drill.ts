/**
 * `foobar drill`, a few faults of it: the real command breaks a web server under load from the
 * client host, measures, heals, and leaves the lab healthy with nothing broken.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';
import { faultsLeft, restoreHost, silenceHost } from '../../src/faults/inject.ts';
import { labPaths } from '../../src/model/layout.ts';
import { backupHost } from '../../src/model/backup.ts';
import { scratchFiles } from '../../src/steps/backup.ts';
import type { DrillReport, DrillRow } from '../../src/drill/run.ts';
import { statusFewAtATime, unhealthyParts, waitHealthy } from '../../src/drill/run.ts';
import { IDEMPOTENT_KINDS } from '../../src/load/visits.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { postFromClient } from '../support/http.ts';
import type { TestLab } from '../support/lab.ts';

export function drillSuite(lab: TestLab): void {
  async function drill(t: TestContext, fault: string): Promise<DrillRow> {
    // One fault took 35 s on a quiet machine and up to 2.6 min with five labs running.
    const result = await lab.cliWithin(480_000, 'drill', fault, '--seconds', '4', '--json');
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    const report = JSON.parse(result.stdout) as DrillReport;
    assert.equal(report.rows.length, 1);
    const row = report.rows[0];
    assert.ok(row !== undefined);
    t.diagnostic(
      JSON.stringify({
        fault: row.fault,
        requests: row.requests,
        failed: Object.fromEntries(row.kinds.map((k) => [k.kind, k.failures])),
        p99BeforeMs: row.p99BeforeMs,
        p99DuringMs: row.p99DuringMs,
        writePauseMs: row.writePauseMs,
        detectedMs: row.detectedMs,
        recoveredMs: row.recoveredMs,
        healthyAfterMs: row.healthyAfterMs,
        writes: row.writes,
      }),
    );
    return row;
  }

  async function assertNothingLeftBroken(): Promise<void> {
    assert.deepEqual(await faultsLeft(lab.ctx), []);
    // As the drill itself asks: a few probes at a time (all at once, some time out on a busy
    // machine and the lab reads degraded with nothing broken).
    const status = await statusFewAtATime(lab.ctx);
    assert.equal(status.health, 'healthy', unhealthyParts(status).join('; '));
  }

  /** What every web server fault must show: no idempotent request lost, the LBs routed around it. */
  function assertWebRow(row: DrillRow, web: string): void {
    assert.equal(row.host, web);
    assert.equal(row.passed, true, row.missed.join('; '));
    for (const kind of ['page', 'static', 'read', 'write'] as const) {
      const figures = row.kinds.find((k) => k.kind === kind);
      // Every kind of visitor came, before and during the fault.
      assert.ok(figures !== undefined && figures.requests > 20, `${kind}: ${figures?.requests}`);
      assert.ok(figures.p99BeforeMs !== null && figures.p99DuringMs !== null);
      if (IDEMPOTENT_KINDS.includes(kind)) assert.equal(figures.failed, 0, kind);
    }
    assert.match(row.detectedBy ?? '', new RegExp(`^lb-0\\d marked ${web} DOWN$`));
    // Health checks every 500 ms, two failures to fall: measured 0.9–2.3 s.
    assert.ok(row.detectedMs !== undefined && row.detectedMs < 8000, `${row.detectedMs}`);
    assert.equal(row.automatic, true);
    // Counted at the database: every acknowledged write is there once.
    assert.ok(row.writes.acked > 20);
    assert.deepEqual(
      { lost: row.writes.lost, duplicated: row.writes.duplicated },
      {
        lost: 0,
        duplicated: 0,
      },
    );
  }

  describe('foobar drill', () => {
    it('lists the faults of the lab, derived from its hosts', async () => {
      const result = await lab.cli('drill', '--list');
      assert.equal(result.exitCode, 0, result.stderr);
      for (const name of [
        'lb-01:host-silenced',
        'web-02:nginx-killed',
        'db-primary:partitioned-from-web',
        'mon:host-silenced',
        'backup:restore',
      ])
        assert.match(result.stdout, new RegExp(`^${name} `, 'm'));
    });

    it('backup:restore restores the newest backup to a scratch server: every table the same rows and CHECKSUM TABLE as a replica held at that GTID, and the scratch server discarded', async (t) => {
      // Rows of its own, whatever ran before: through the site, to the primary.
      for (let i = 0; i < 5; i++) {
        const text = `drill restore ${Date.now().toString(36)} ${i}`;
        const response = await postFromClient(
          lab,
          `${siteUrl(lab.model)}api/messages`,
          text,
          lab.siteFlags(),
        );
        assert.equal(response.status, 201, response.body);
      }
      const result = await lab.cliWithin(480_000, 'drill', 'backup:restore', '--json');
      assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
      const report = JSON.parse(result.stdout) as DrillReport;
      assert.deepEqual(report.rows, []);
      const check = report.restore;
      assert.ok(check !== undefined, result.stdout);
      assert.equal(check.passed, true, check.missed.join('; '));
      const messages = check.live.find((f) => f.table === 'messages');
      assert.ok(messages !== undefined && messages.rows >= 5, JSON.stringify(check.live));
      assert.deepEqual(check.restored, check.live);
      assert.match(check.gtid, /^\d+-\d+-\d+/);
      const scratch = scratchFiles(lab.ctx, backupHost(lab.model)?.name ?? 'backup').dir;
      assert.equal((await lab.on(null, ['test', '-e', scratch])).exitCode, 1, `${scratch} left`);
      t.diagnostic(
        `RTO ${check.rtoSeconds.toFixed(1)} s (backup ${check.backup} + ${check.binlogs} binary logs to ${check.gtid}), archive there ${check.rpoSeconds.toFixed(1)} s after the hold; ${check.live.map((f) => `${f.table} ${f.rows} rows`).join(', ')}`,
      );
      await assertNothingLeftBroken();
    });

    it("web-01's app killed under load: no idempotent request lost, healed, nothing left broken", async (t) => {
      assertWebRow(await drill(t, 'web-01:app-killed'), 'web-01');
      await assertNothingLeftBroken();
    });

    it('web-01 silenced under load: no idempotent request lost, healed, nothing left broken', async (t) => {
      assertWebRow(await drill(t, 'web-01:host-silenced'), 'web-01');
      await assertNothingLeftBroken();
    });

    it('Ctrl-C in the middle of a fault heals it and exits 130', async (t) => {
      const [node = '', ...args] = lab.cliArgv('drill', 'web-02:host-silenced', '--seconds', '20');
      const child = spawn(node, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      });
      let stderr = '';
      const injected = new Promise<void>((resolve) => {
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString('utf8');
          if (stderr.includes('injected on web-02')) resolve();
        });
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      const bound = setTimeout(() => child.kill('SIGKILL'), 300_000);
      try {
        await Promise.race([
          injected,
          exited.then((code) => {
            throw new Error(`the drill ended before injecting (exit ${code}): ${stderr}`);
          }),
        ]);
        const interruptedAt = Date.now();
        child.kill('SIGINT');
        assert.equal(await exited, 130, stderr);
        t.diagnostic(`exited ${Date.now() - interruptedAt} ms after SIGINT`);
      } finally {
        clearTimeout(bound);
      }
      assert.match(stderr, /drill interrupted: what it broke is healed/);
      assert.deepEqual(await faultsLeft(lab.ctx), []);
      await waitHealthy(lab.ctx, 60_000);
    });

    it('refuses a lab that is not healthy, and releases its lock', async () => {
      const web = lab.host('web-02');
      await silenceHost(lab.ctx, web);
      try {
        const result = await lab.cliWithin(300_000, 'drill', 'web-01:app-killed', '--seconds', '2');
        assert.equal(result.exitCode, 2, result.stdout);
        // Whichever it sees first: the load balancers' view, or the silenced host itself.
        assert.match(
          result.stderr,
          /is not healthy \(.*web-02|still has faults injected earlier: web-02 is silenced/,
        );
        assert.equal(result.stdout, '');
      } finally {
        await restoreHost(lab.ctx, web);
      }
      await waitHealthy(lab.ctx, 60_000);
      assert.equal((await lab.on(null, ['test', '-e', labPaths(lab.model).lock])).exitCode, 1);
    });
  });
}
