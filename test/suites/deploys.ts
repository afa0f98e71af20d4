/**
 * Deploys as an operator runs them (the CLI) while users keep using the site (visitors from the
 * client host: pages, their assets, writes): zero failed requests, the switch seen by the
 * visitors while they came, the same release and files everywhere afterwards; failures that stop
 * before any switch; rollbacks; pruning; the audit log; drift.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, it, type TestContext } from 'node:test';
import { labPaths } from '../../src/model/layout.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { hostsWithRole } from '../../src/model/model.ts';
import type { VisitSummary } from '../../src/load/visits.ts';
import { backendServers } from '../../src/probes/haproxy.ts';
import type { AuditEntry } from '../../src/steps/audit.ts';
import { KEEP_BUILDS, KEEP_RELEASES, type ReleaseInfo } from '../../src/steps/releases.ts';
import type { LabStatus } from '../../src/steps/status.ts';
import { sleep, waitFor } from '../../src/lib/wait.ts';
import { appVariant } from '../support/apps.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { sql, waitCaughtUp } from '../support/db.ts';
import { assertCleanVisits, type TestLab } from '../support/lab.ts';

/** One look at every load balancer: web server → HAProxy's status word, per load balancer. */
interface BackendSample {
  readonly at: number;
  readonly lb: string;
  readonly states: Readonly<Record<string, string>>;
}

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

  /** The one release every web server answers as now. */
  async function liveEverywhere(): Promise<string> {
    const served = await releasesServed();
    const ids = [...new Set(Object.values(served))];
    assert.equal(ids.length, 1, JSON.stringify(served));
    return ids[0] ?? '';
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

  /** Polls every load balancer's view of its web servers until stopped (the deploy is bounded). */
  function watchBackends(): { stop(): Promise<BackendSample[]> } {
    const samples: BackendSample[] = [];
    const watching = { going: true };
    const loop = (async () => {
      while (watching.going) {
        await Promise.all(
          lbs.map(async (lb) => {
            const servers = await backendServers(lab.ctx, lb.name);
            if ('error' in servers) return;
            samples.push({
              at: Date.now(),
              lb: lb.name,
              states: Object.fromEntries(servers.map((s) => [s.name, s.status])),
            });
          }),
        );
      }
    })();
    return {
      async stop() {
        watching.going = false;
        await loop;
        return samples;
      },
    };
  }

  interface UnderLoad {
    readonly visits: VisitSummary;
    readonly output: string;
    readonly deployStarted: number;
    readonly deployEnded: number;
  }

  async function deployUnderLoad(args: string[]): Promise<UnderLoad> {
    // Bounded by the deploy (the CLI's own timeout) and at most 200 s of load.
    const visitors = lab.visits(200);
    await visitors.ready();
    await sleep(500);
    const deployStarted = Date.now();
    const deploy = await lab.cli('deploy', ...args);
    const deployEnded = Date.now();
    // Visitors keep coming after the switch, so they must see the new release.
    await sleep(1500);
    const visits = await visitors.stop();
    assert.equal(deploy.exitCode, 0, deploy.stderr + deploy.stdout);
    return { visits, output: deploy.stdout, deployStarted, deployEnded };
  }

  /**
   * Nothing failed, and the switch happened while visitors came: they came before the deploy
   * began, saw pages of the old release before pages of the new one, the new one until after the
   * deploy ended, and nothing else.
   */
  function assertSwitchUnderLoad(
    run: UnderLoad,
    before: string,
    after: string,
    t: TestContext,
  ): void {
    const { visits } = run;
    const rel = (at: number): string => `${((at - run.deployStarted) / 1000).toFixed(2)} s`;
    t.diagnostic(
      JSON.stringify({
        deploySeconds: (run.deployEnded - run.deployStarted) / 1000,
        kinds: visits.kinds,
        failures: visits.failures.map((f) => `${rel(f.at)} ${f.kind} ${f.answer}`),
        releases: Object.fromEntries(
          Object.entries(visits.releases).map(([id, r]) => [
            id,
            { first: rel(r.first), last: rel(r.last), pages: r.pages },
          ]),
        ),
      }),
    );
    assertCleanVisits(visits, 50);
    assert.deepEqual(
      Object.keys(visits.releases).sort(),
      [before, after].sort(),
      'releases served',
    );
    const old = visits.releases[before];
    const now = visits.releases[after];
    assert.ok(old !== undefined && now !== undefined);
    assert.ok(visits.startedAt < run.deployStarted, 'the visitors came before the deploy began');
    assert.ok(old.first < now.first, 'the old release served before the new one');
    assert.ok(now.last > run.deployEnded, 'the new release served after the deploy ended');
    assert.ok(visits.endedAt > run.deployEnded + 1000, 'the load outlived the switch');
  }

  async function assertEverywhere(release: string): Promise<void> {
    const want = Object.fromEntries(webs.map((w) => [w, release]));
    // A load balancer that found one answer slow retries it on the other web server, so a few
    // requests can all come from one: ask again for a while, and say what the balancers saw.
    let served = await releasesServed();
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      if (isDeepStrictEqual(served, want)) break;
      await sleep(500);
      served = await releasesServed();
    }
    if (!isDeepStrictEqual(served, want)) {
      const views = await Promise.all(lbs.map((lb) => backendServers(lab.ctx, lb.name)));
      assert.deepEqual(served, want, `load balancers' view: ${JSON.stringify(views)}`);
    }
    const sums = await Promise.all(webs.map(checksums));
    for (const sum of sums) assert.equal(sum, sums[0]);
    assert.match(sums[0] ?? '', / \.\/static\/app\.css\n/);
  }

  /** Drift only: the rest of the health (alerts on a loaded machine) is not this suite's. */
  async function assertNoDrift(): Promise<void> {
    const status = await lab.cli('status', '--json');
    assert.deepEqual((JSON.parse(status.stdout) as LabStatus).releases.drift, [], status.stdout);
  }

  function releaseOf(output: string): string {
    const id = /release ([0-9a-f]{12}) is live on/.exec(output)?.[1];
    assert.ok(id !== undefined, output);
    return id;
  }

  /** The release a failed deploy tried, from its error. */
  function failedReleaseOf(stderr: string): string {
    const id = /of release ([0-9a-f]{12}) /.exec(stderr)?.[1];
    assert.ok(id !== undefined, stderr);
    return id;
  }

  async function releasesJson(): Promise<ReleaseInfo[]> {
    const result = await lab.cli('releases', '--json');
    assert.equal(result.exitCode, 0, result.stderr);
    return (JSON.parse(result.stdout) as { releases: ReleaseInfo[] }).releases;
  }

  /** App processes on a web server that run a given release. */
  async function appsRunning(web: string, release: string): Promise<string[]> {
    const result = await lab.on(web, ['ps', '-eo', 'pid=,args=']);
    const dir = path.join(hostPaths(lab.model, web).releases, release);
    return result.stdout.split('\n').filter((line) => line.includes(dir));
  }

  function audit(): AuditEntry[] {
    return readFileSync(path.join(labPaths(lab.model).state, 'audit.log'), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as AuditEntry);
  }

  describe('deploys', () => {
    let last = '';
    /** Every release this suite tried, in order: [release, what it did]. */
    const tried: { release: string; action: string; previous: string; outcome: string }[] = [];
    /** Releases in the order they were installed on the web servers. */
    const installed: string[] = [];
    /** A deploy that succeeded, from its output: now live, installed, tried. */
    const deployed = (output: string): void => {
      const previous = last;
      last = releaseOf(output);
      installed.push(last);
      tried.push({ release: last, action: 'deploy', previous, outcome: 'succeeded' });
    };

    it('a parallel deploy under load fails no page, asset or write, and visitors see the switch', async (t) => {
      const before = await liveEverywhere();
      installed.push(before);
      // What is live, should this deploy fail: the tests after it start from there.
      last = before;
      const run = await deployUnderLoad([
        '--strategy',
        'parallel',
        '--from',
        appVariant('parallel'),
      ]);
      last = releaseOf(run.output);
      installed.push(last);
      tried.push({ release: last, action: 'deploy', previous: before, outcome: 'succeeded' });
      assertSwitchUnderLoad(run, before, last, t);
      await assertEverywhere(last);
      // The new slot runs with its settings written: the next up has nothing to restart (it used
      // to find the slot's env file missing, and restart every app).
      const plan = await lab.cliWithin(180_000, 'up', '--plan');
      assert.equal(plan.exitCode, 0, `${plan.stdout}\n${plan.stderr}`);
      assert.equal(plan.stdout, `lab ${lab.model.lab.name}: nothing to change\n`);
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
      tried.push({
        release: releaseOf(result.stdout),
        action: 'deploy',
        previous: last,
        outcome: 'succeeded',
      });
      last = releaseOf(result.stdout);
      installed.push(last);
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
      tried.push({
        release: releaseOf(again.stdout),
        action: 'deploy',
        previous: last,
        outcome: 'succeeded',
      });
      last = releaseOf(again.stdout);
      installed.push(last);
    });

    it('a rolling deploy under load drains each server in turn on every load balancer, fails nothing, same release everywhere', async (t) => {
      const previous = last;
      const watch = watchBackends();
      let run: UnderLoad;
      let samples: BackendSample[] = [];
      try {
        run = await deployUnderLoad(['--strategy', 'rolling', '--from', appVariant('rolling')]);
      } finally {
        samples = await watch.stop();
      }
      last = releaseOf(run.output);
      installed.push(last);
      tried.push({ release: last, action: 'deploy', previous, outcome: 'succeeded' });
      assertSwitchUnderLoad(run, previous, last, t);
      // What HAProxy said while the deploy ran: each server drained on every load balancer, one
      // at a time, in order, and every server back up at the end.
      const drained = (web: string, lb: string): BackendSample[] =>
        samples.filter((s) => s.lb === lb && (s.states[web] ?? '').startsWith('DRAIN'));
      const windows: Record<string, string> = {};
      for (const lb of lbs) {
        for (const web of webs) {
          const seen = drained(web, lb.name);
          assert.ok(seen.length > 0, `${lb.name} saw ${web} drained`);
          windows[`${lb.name} ${web}`] =
            `${((seen[0]?.at ?? 0) - run.deployStarted) / 1000}–${((seen.at(-1)?.at ?? 0) - run.deployStarted) / 1000} s`;
        }
        const firstDrain = webs.map((web) => drained(web, lb.name)[0]?.at ?? 0);
        assert.deepEqual(
          firstDrain,
          [...firstDrain].sort((a, b) => a - b),
          'servers drained in order',
        );
        const ending = samples.filter((s) => s.lb === lb.name).at(-1);
        assert.deepEqual(
          ending?.states,
          Object.fromEntries(webs.map((w) => [w, 'UP'])),
          `${lb.name} at the end`,
        );
      }
      const together = samples.filter(
        (s) => Object.values(s.states).filter((state) => state.startsWith('DRAIN')).length > 1,
      );
      assert.deepEqual(together, [], 'never two servers drained at once');
      t.diagnostic(JSON.stringify({ samples: samples.length, drainWindows: windows }));
      await assertEverywhere(last);
    });

    it('a release that crashes on start never goes live, and the deploy says where and why', async () => {
      const result = await lab.cli('deploy', '--from', appVariant('crash', 'crash-on-start'));
      assert.equal(result.exitCode, 2);
      assert.match(result.stderr, /stopped before any server switched/);
      for (const web of webs)
        assert.match(result.stderr, new RegExp(`${web}: app exited while starting`));
      assert.match(result.stderr, /Error: broken on purpose/);
      const failed = failedReleaseOf(result.stderr);
      installed.push(failed);
      tried.push({ release: failed, action: 'deploy', previous: last, outcome: 'failed' });
      await assertEverywhere(last);
    });

    it('a release that starts but never gets ready is stopped at the start timeout, and never goes live', async (t) => {
      const started = Date.now();
      const result = await lab.cli('deploy', '--from', appVariant('hang', 'hang-on-start'));
      const seconds = (Date.now() - started) / 1000;
      t.diagnostic(`the hung deploy gave up after ${seconds.toFixed(1)} s`);
      assert.equal(result.exitCode, 2, result.stdout);
      assert.match(result.stderr, /stopped before any server switched/);
      for (const web of webs)
        assert.match(result.stderr, new RegExp(`${web}: app: still not ready after`));
      const failed = failedReleaseOf(result.stderr);
      installed.push(failed);
      tried.push({ release: failed, action: 'deploy', previous: last, outcome: 'failed' });
      for (const web of webs) assert.deepEqual(await appsRunning(web, failed), [], web);
      await assertEverywhere(last);
    });

    it('a server that cannot take the release (read-only disk) stops the deploy before any switch', async () => {
      const web = webs.at(-1) ?? '';
      const releases = hostPaths(lab.model, web).releases;
      const mount = async (argv: string[]): Promise<void> => {
        const result = await lab.on(null, ['mount', ...argv]);
        assert.equal(result.exitCode, 0, result.stderr);
      };
      await mount(['--bind', releases, releases]);
      let result;
      try {
        await mount(['-o', 'remount,bind,ro', releases]);
        result = await lab.cli('deploy', '--from', appVariant('read-only'));
      } finally {
        assert.equal((await lab.on(null, ['umount', releases])).exitCode, 0);
      }
      assert.equal(result.exitCode, 2, result.stdout);
      assert.match(result.stderr, /stopped before any server switched/);
      assert.match(result.stderr, new RegExp(`${web}: .*read-only file system`, 'i'));
      // Nothing started: the deploy never got past the copy.
      assert.doesNotMatch(result.stdout, /^Start/m);
      const failed = failedReleaseOf(result.stderr);
      installed.push(failed);
      tried.push({ release: failed, action: 'deploy', previous: last, outcome: 'failed' });
      for (const each of webs) assert.deepEqual(await appsRunning(each, failed), [], each);
      await assertEverywhere(last);
    });

    it('a release that fails on one server after the switch is switched back on every server', async () => {
      // A good release first: the release live before the failed one is then neither the oldest
      // kept nor the newest not live, so the rollback test below can tell those three apart.
      const good = await lab.cli('deploy', '--from', appVariant('before-half'));
      assert.equal(good.exitCode, 0, good.stderr);
      deployed(good.stdout);
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
      const failed = failedReleaseOf(result.stderr);
      installed.push(failed);
      tried.push({ release: failed, action: 'deploy', previous: last, outcome: 'rolled back' });
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
      deployed(done.stdout);
    });

    it('keeps no more than five old releases on each web server, the oldest pruned', async () => {
      const releases = await releasesJson();
      const before = tried.filter((r) => r.outcome === 'succeeded').at(-1)?.previous ?? '';
      for (const web of webs) {
        const on = releases.filter((r) => r.on.includes(web)).map((r) => r.id);
        assert.ok(
          on.length >= KEEP_RELEASES && on.length <= KEEP_RELEASES + 1,
          `${web} holds ${on.length} releases: ${on.join(', ')}`,
        );
        assert.ok(
          on.includes(last) && on.includes(before),
          `${web} keeps the live and the one before`,
        );
        for (const old of installed.slice(0, 2))
          assert.ok(!on.includes(old), `${web}: ${old}, among the oldest, pruned`);
      }
      assert.ok(installed.length > KEEP_RELEASES + 2, `${installed.length} releases installed`);
    });

    it('rollback puts back the release live before the last deploy, everywhere', async () => {
      const releases = await releasesJson();
      assert.deepEqual(releases.find((r) => r.id === last)?.liveOn, webs);
      const expected = tried.filter((r) => r.outcome === 'succeeded').at(-1)?.previous ?? '';
      // The release before is neither the oldest kept nor the newest not live: a rollback that
      // took either of those would fail here.
      const notLive = releases
        .filter((r) => r.liveOn.length === 0)
        .sort((a, b) => a.installed.localeCompare(b.installed))
        .map((r) => r.id);
      assert.ok(notLive.includes(expected), `${expected} is among ${notLive.join(', ')}`);
      assert.notEqual(notLive[0], expected, 'the oldest kept is another release');
      assert.notEqual(notLive.at(-1), expected, 'the newest not live is another release');
      const result = await lab.cli('rollback');
      assert.equal(result.exitCode, 0, result.stderr);
      const back = releaseOf(result.stdout);
      assert.equal(back, expected);
      tried.push({ release: back, action: 'rollback', previous: last, outcome: 'succeeded' });
      await assertEverywhere(back);
      last = back;
    });

    it('rollback ID puts that release back, even one pruned from the web servers', async () => {
      const target = tried[0]?.release ?? '';
      assert.ok(
        !(await releasesJson()).some((r) => r.id === target),
        `${target} was pruned from the web servers`,
      );
      const result = await lab.cli('rollback', target);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(releaseOf(result.stdout), target);
      tried.push({ release: target, action: 'rollback', previous: last, outcome: 'succeeded' });
      await assertEverywhere(target);
      last = target;
      const unknown = await lab.cli('rollback', 'abcdefabcdef');
      assert.equal(unknown.exitCode, 2);
      assert.match(unknown.stderr, /release abcdefabcdef is not among this machine's builds/);
    });

    it(`a deploy leaves this machine the builds of every release a web server holds and the newest ${KEEP_BUILDS}, and removes the rest`, async () => {
      const builds = labPaths(lab.model).builds;
      const isBuild = (name: string): boolean => /^[0-9a-f]{12}$/.test(name);
      const ours = readdirSync(builds).filter(isBuild);
      assert.ok(ours.length + 1 < KEEP_BUILDS, `${ours.length} builds made by this lab`);
      // Builds older than all of this lab's, as many as are kept: the deploy's new build makes
      // the oldest of them superseded.
      const planted = Array.from(
        { length: KEEP_BUILDS },
        (_, i) => `feed${String(i).padStart(8, '0')}`,
      );
      for (const [i, id] of planted.entries()) {
        mkdirSync(path.join(builds, id));
        utimesSync(path.join(builds, id), 1_000_000 + i, 1_000_000 + i);
      }
      // And the live release, which the web servers keep after the deploy as the one before,
      // made the oldest build of all.
      const held = last;
      utimesSync(path.join(builds, held), 1_000, 1_000);
      const result = await lab.cli('deploy', '--from', appVariant('prune'));
      assert.equal(result.exitCode, 0, result.stderr);
      deployed(result.stdout);
      const left = readdirSync(builds).filter(isBuild);
      for (const id of [...ours, last]) assert.ok(left.includes(id), `${id}, ours, kept`);
      // The newest KEEP_BUILDS: ours but the one held (made the oldest), the new one, and the
      // newest planted.
      const kept = KEEP_BUILDS - ours.length;
      assert.deepEqual(
        left.filter((id) => id.startsWith('feed')).sort(),
        planted.slice(planted.length - kept),
      );
      for (const id of left.filter((id) => id.startsWith('feed')))
        rmSync(path.join(builds, id), { recursive: true });
    });

    it('writes one audit line per deploy and rollback: what, from which release, and how it ended', () => {
      const ours = new Set(tried.map((r) => r.release));
      const lines = audit()
        .filter((e) => ours.has(e.release ?? ''))
        .map((e) => ({
          release: e.release,
          action: e.action,
          previous: e.previous,
          outcome: e.outcome,
        }));
      assert.deepEqual(lines, tried);
    });

    it('shows web servers on different releases as drift', async () => {
      const web = webs[0] ?? '';
      const other = tried.at(-2)?.release ?? '';
      const current = hostPaths(lab.model, web).current;
      const target = (id: string): string => path.join(hostPaths(lab.model, web).releases, id);
      await lab.on(web, ['ln', '-sfn', target(other), current]);
      try {
        const status = await lab.cli('status', '--json');
        assert.equal(status.exitCode, 1, status.stdout);
        const drift = (JSON.parse(status.stdout) as LabStatus).releases.drift;
        const live = webs.map((w) => `${w} ${w === web ? other : last}`).join(', ');
        assert.deepEqual(drift, [`web servers serve different releases: ${live}`]);
      } finally {
        await lab.on(web, ['ln', '-sfn', target(last), current]);
      }
      await assertNoDrift();
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
      await assertNoDrift();
      await assertEverywhere(last);
    });
  });
}
