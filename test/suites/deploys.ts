/**
 * Deploys as an operator runs them (the CLI) while users keep using the site (a bounded load from
 * the client host): zero failed requests, the same release and files everywhere afterwards.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { labPaths } from '../../src/model/layout.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { hostsWithRole } from '../../src/model/model.ts';
import type { LoadSummary } from '../../src/load/loadgen.ts';
import type { LabStatus } from '../../src/steps/status.ts';
import { sleep, waitFor } from '../../src/lib/wait.ts';
import { appVariant } from '../support/apps.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { sql, waitCaughtUp } from '../support/db.ts';
import type { TestLab } from '../support/lab.ts';

export function deploySuite(lab: TestLab): void {
  const webs = hostsWithRole(lab.model, 'web').map((h) => h.name);
  const lbs = hostsWithRole(lab.model, 'lb');
  // Through each load balancer in turn (curl --resolve), or through DNS for loads.
  const site = siteUrl(lab.model).slice(0, -1);

  /** The release each web server answers as, asked through the load balancers. */
  async function releasesServed(): Promise<Record<string, string>> {
    const seen: Record<string, string> = {};
    for (let i = 0; i < 4 * webs.length; i++) {
      const result = await lab.on('client', [
        'curl',
        '-sS',
        '--fail',
        ...lab.siteFlags(lbs[i % lbs.length]),
        `${site}/api/whoami`,
      ]);
      const whoami = JSON.parse(result.stdout) as { server: string; release: string };
      seen[whoami.server] = whoami.release;
    }
    return seen;
  }

  /** sha256 of every file of the live release, per web server. */
  async function checksums(web: string): Promise<string> {
    const current = hostPaths(lab.model, web).current;
    const result = await lab.on(web, [
      'sh',
      '-c',
      'cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum',
      'checksums',
      `${current}/`,
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout;
  }

  async function deployUnderLoad(args: string[]): Promise<{ load: LoadSummary; output: string }> {
    const load = lab.load(`${site}/`, 7, 8);
    await sleep(1500);
    const deploy = await lab.cli('deploy', ...args);
    assert.equal(deploy.exitCode, 0, deploy.stderr + deploy.stdout);
    return { load: await load, output: deploy.stdout };
  }

  function assertNoFailures(load: LoadSummary): void {
    assert.ok(load.requests > 300, `the load ran (${load.requests} requests)`);
    assert.deepEqual(
      { failed: load.failed, errors: load.errors },
      { failed: 0, errors: {} },
      JSON.stringify(load),
    );
  }

  async function assertEverywhere(release: string): Promise<void> {
    assert.deepEqual(await releasesServed(), Object.fromEntries(webs.map((w) => [w, release])));
    const sums = await Promise.all(webs.map(checksums));
    for (const sum of sums) assert.equal(sum, sums[0]);
    assert.match(sums[0] ?? '', / \.\/static\/app\.css\n/);
  }

  function releaseOf(output: string): string {
    const id = /release ([0-9a-f]{12}) is live on/.exec(output)?.[1];
    assert.ok(id !== undefined, output);
    return id;
  }

  describe('deploys', () => {
    let last = '';

    it('a parallel deploy under load fails no request and puts the release on every server', async () => {
      const { load, output } = await deployUnderLoad([
        '--strategy',
        'parallel',
        '--from',
        appVariant('parallel'),
      ]);
      assertNoFailures(load);
      last = releaseOf(output);
      await assertEverywhere(last);
    });

    it('runs a release’s new migration once, on the primary, before the switch', async () => {
      const migration = {
        name: '900_test_index.sql',
        sql: 'CREATE INDEX IF NOT EXISTS messages_created_at ON messages (created_at);\n',
      };
      const result = await lab.cli(
        'deploy',
        '--from',
        appVariant('migration', undefined, migration),
      );
      assert.equal(result.exitCode, 0, result.stderr);
      const lines = result.stdout.split('\n');
      const migrated = lines.findIndex((line) =>
        line.includes('schema on the primary: db-01: 900_test_index applied'),
      );
      const switched = lines.findIndex((line) => line.startsWith('Switch'));
      assert.ok(migrated !== -1 && switched > migrated, result.stdout);
      last = releaseOf(result.stdout);
      for (const db of hostsWithRole(lab.model, 'db').map((h) => h.name)) {
        if (db !== 'db-01') await waitCaughtUp(lab, db, 'db-01');
        const rows = await sql(
          lab,
          db,
          `SELECT COUNT(*) FROM ${lab.model.database.schema}.schema_migrations WHERE id = '900_test_index'`,
        );
        assert.deepEqual(rows, [['1']], db);
        const index = await sql(
          lab,
          db,
          `SHOW INDEX FROM ${lab.model.database.schema}.messages WHERE Key_name = 'messages_created_at'`,
        );
        assert.equal(index.length, 1, db);
      }
      const again = await lab.cli(
        'deploy',
        '--from',
        appVariant('migration-again', undefined, migration),
      );
      assert.match(again.stdout, /schema on the primary: db-01: up to date/);
      last = releaseOf(again.stdout);
    });

    it('a rolling deploy under load drains each server first, fails no request, same release everywhere', async () => {
      const { load, output } = await deployUnderLoad([
        '--strategy',
        'rolling',
        '--from',
        appVariant('rolling'),
      ]);
      assertNoFailures(load);
      for (const web of webs)
        assert.match(output, new RegExp(`Switch ${web} \\(drained from the load balancers\\)`));
      const previous = last;
      last = releaseOf(output);
      assert.notEqual(last, previous);
      await assertEverywhere(last);
    });

    it('a release that crashes on start never goes live, and the deploy says where and why', async () => {
      const result = await lab.cli('deploy', '--from', appVariant('crash', 'crash-on-start'));
      assert.equal(result.exitCode, 2);
      assert.match(result.stderr, /stopped before any server switched/);
      for (const web of webs)
        assert.match(result.stderr, new RegExp(`${web}: app exited while starting`));
      assert.match(result.stderr, /Error: broken on purpose/);
      await assertEverywhere(last);
    });

    it('a release that fails on one server after the switch is switched back on every server', async () => {
      const broken = webs.at(-1) ?? '';
      const result = await lab.cli(
        'deploy',
        '--from',
        appVariant('half', { failsBehindProxyOn: broken }),
      );
      assert.equal(result.exitCode, 2);
      assert.match(
        result.stderr,
        new RegExp(
          `failed while switching: .*\\n.*${broken}: after the switch Nginx serves release nothing`,
        ),
      );
      assert.match(result.stderr, /Every web server is back on the release it served before/);
      await assertEverywhere(last);
      const status = await lab.cli('status', '--json');
      assert.equal((JSON.parse(status.stdout) as LabStatus).health, 'healthy', status.stdout);
    });

    it('refuses a second deploy while one runs, naming who holds the lock', async () => {
      const lock = labPaths(lab.model).lock;
      const first = lab.cli('deploy', '--strategy', 'rolling', '--from', appVariant('first'));
      let firstEnded = false;
      void first.then(() => (firstEnded = true));
      // Bounded: a first deploy that dies before taking the lock fails this test, not hangs it.
      await waitFor(
        'the first deploy to take the lock',
        () => Promise.resolve(existsSync(lock) || firstEnded ? undefined : 'no lock yet'),
        { timeoutMs: 60_000, intervalMs: 20, maxIntervalMs: 20 },
      );
      if (!existsSync(lock)) {
        const early = await first;
        assert.fail(`the first deploy ended before taking the lock: ${early.stderr}`);
      }
      const second = await lab.cli('deploy', '--from', appVariant('second'));
      assert.equal(second.exitCode, 2);
      assert.match(
        second.stderr,
        /another foobar is changing this lab: `foobar deploy` \(pid \d+\) has held .* since \d{4}-\d\d-\d\dT/,
      );
      const done = await first;
      assert.equal(done.exitCode, 0, done.stderr);
      last = releaseOf(done.stdout);
    });

    it('rollback puts the previous release back everywhere', async () => {
      const releases = JSON.parse((await lab.cli('releases', '--json')).stdout) as {
        releases: { id: string; liveOn: string[] }[];
      };
      assert.deepEqual(releases.releases.find((r) => r.id === last)?.liveOn, webs);
      const result = await lab.cli('rollback');
      assert.equal(result.exitCode, 0, result.stderr);
      const back = releaseOf(result.stdout);
      assert.notEqual(back, last);
      await assertEverywhere(back);
      last = back;
    });

    it('shows a file changed on one server as drift, and up repairs it', async () => {
      const web = webs[0] ?? '';
      const css = path.join(hostPaths(lab.model, web).current, 'static', 'app.css');
      await lab.on(web, ['sh', '-c', 'echo "/* tampered */" >> "$1"', 'tamper', css]);
      const status = await lab.cli('status', '--json');
      assert.equal(status.exitCode, 1);
      const drift = (JSON.parse(status.stdout) as LabStatus).releases.drift;
      assert.deepEqual(drift, [`${web}: ${last}/static/app.css: checksum differs`]);
      const up = await lab.cli('up');
      assert.match(up.stdout, new RegExp(`${web}: release ${last} repaired`));
      assert.equal((await lab.cli('status')).exitCode, 0);
      await assertEverywhere(last);
    });
  });
}
