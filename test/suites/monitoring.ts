/**
 * Monitoring as an operator meets it: Prometheus scraping every exporter of the model, the
 * dashboard in a real browser on this machine (the admin's), alerts that fire and reach the
 * alert log within the lab's deadline when a web server's app dies, and `up` healing it.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { hostPaths } from '../../src/model/layout.ts';
import { hostsWithRole } from '../../src/model/model.ts';
import {
  alertDeadlineSeconds,
  dashboardUrl,
  LOCAL_JOBS,
  monitorHost,
  PROBE_JOBS,
  probeTargets,
  SCRAPE_JOBS,
  scrapeTargets,
} from '../../src/model/monitoring.ts';
import {
  prometheusAlerts,
  prometheusQuery,
  prometheusTargets,
} from '../../src/probes/prometheus.ts';
import { trustedCa } from '../../src/model/transit.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { dashboardFiles } from '../../src/render/dashboard/index.ts';
import { killDaemon } from '../../src/steps/daemon.ts';
import { runPlan } from '../../src/steps/plan.ts';
import { webDaemons } from '../../src/steps/services.ts';
import type { LabStatus } from '../../src/steps/status.ts';
import { upPlan } from '../../src/steps/up.ts';
import { waitFor } from '../../src/lib/wait.ts';
import { openBrowser } from '../support/chromium.ts';
import { sql } from '../support/db.ts';
import { fetchOn } from '../support/http.ts';
import type { TestLab } from '../support/lab.ts';

const SCREENSHOT = path.resolve(import.meta.dirname, '../../out/dashboard.png');
/** What the page looked like when a browser test failed. */
const FAILURE_SCREENSHOT = path.resolve(import.meta.dirname, '../../out/dashboard-failure.png');

interface Notification {
  readonly status: string;
  readonly alerts: readonly { status: string; labels: Record<string, string> }[];
}

export function monitoringSuite(lab: TestLab): void {
  const mon = monitorHost(lab.model);
  const dashboard = dashboardUrl(lab.model);
  assert.ok(mon !== undefined && dashboard !== undefined, 'the test lab has a monitoring host');
  const origin = dashboard.replace(/\/$/, '');
  const m = lab.model.monitoring;
  const deadlineMs = alertDeadlineSeconds(lab.model) * 1000;
  // The design's deadline is held by the drill and the bench; a test on a shared, noisy machine
  // holds a bound three times it (runs measured up to 7.5 s against 10 s) and reports the figure.
  const boundMs = 3 * deadlineMs;
  const alertLog = dashboardFiles(hostPaths(lab.model, mon.name)).alertLog;
  const lb = hostsWithRole(lab.model, 'lb')[0];
  const web = lab.host('web-01');

  /** Notifications appended to the alert log after `offset` bytes. */
  async function notificationsSince(offset: number): Promise<Notification[]> {
    const text = (await lab.ctx.driver.readFile(null, alertLog)) ?? '';
    return text
      .slice(offset)
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Notification);
  }

  const notified = (list: Notification[], status: string, alert: string, host: string): boolean =>
    list.some((n) =>
      n.alerts.some(
        (a) => a.status === status && a.labels.alertname === alert && a.labels.host === host,
      ),
    );

  async function firing(): Promise<string[]> {
    const alerts = await prometheusAlerts(lab.ctx);
    if ('error' in alerts) throw new Error(alerts.error);
    return alerts.filter((a) => a.state === 'firing').map((a) => `${a.name} ${a.host ?? ''}`);
  }

  /**
   * `from` gets nothing of `url`: a server's own firewall refuses to send it (curl cannot connect,
   * at once), the destination's drops it (curl times out), or it gets a 403.
   */
  async function assertNotServed(from: string, url: string, content: RegExp): Promise<void> {
    const result = await lab.on(from, [
      'curl',
      '-sS',
      '--max-time',
      '2',
      '-w',
      '\n%{http_code}',
      url,
    ]);
    assert.doesNotMatch(result.stdout, content);
    assert.ok(
      result.exitCode === 7 || result.exitCode === 28 || result.stdout.endsWith('\n403'),
      `${from}: ${result.stdout}`,
    );
  }

  /** Waits until every alert has resolved (after a heal). */
  async function noAlertFiring(): Promise<void> {
    await waitFor(
      'no alert firing',
      async () => {
        const now = await firing();
        return now.length === 0 ? undefined : now.join(', ');
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }

  describe('monitoring', () => {
    it('scrapes every exporter the model lists, all up, and no alert fires on a healthy lab', async () => {
      const targets = await prometheusTargets(lab.ctx);
      assert.ok(!('error' in targets), JSON.stringify(targets));
      const expected = [
        ...LOCAL_JOBS.map((job) => `${job.job} ${mon.name}`),
        ...SCRAPE_JOBS.flatMap((job) =>
          scrapeTargets(lab.model, job).map((t) => `${job.job} ${t.host}`),
        ),
        ...Object.values(PROBE_JOBS).flatMap((probe) =>
          probeTargets(lab.model, probe).map((t) => `${probe.job} ${t.host}`),
        ),
      ].sort();
      assert.deepEqual(targets.map((t) => `${t.job} ${t.host}`).sort(), expected);
      assert.deepEqual(
        targets.filter((t) => !t.up).map((t) => `${t.job} on ${t.host}: ${t.lastError}`),
        [],
      );
      assert.deepEqual(await firing(), []);
    });

    it('probes what has no exporter: the DNS answer for the site, and each load balancer’s certificate', async () => {
      const success = await prometheusQuery(lab.ctx, 'probe_success');
      assert.ok(!('error' in success), JSON.stringify(success));
      assert.deepEqual(
        success.map((s) => `${s.labels.job ?? ''} ${s.labels.host ?? ''} ${s.value}`).sort(),
        Object.values(PROBE_JOBS)
          .flatMap((probe) => probeTargets(lab.model, probe).map((t) => `${probe.job} ${t.host} 1`))
          .sort(),
      );
      const days = await prometheusQuery(
        lab.ctx,
        `(probe_ssl_earliest_cert_expiry{job="${PROBE_JOBS.tls.job}"} - time()) / 86400`,
      );
      assert.ok(!('error' in days), JSON.stringify(days));
      assert.equal(days.length, hostsWithRole(lab.model, 'lb').length);
      for (const lb of days)
        assert.ok(lb.value > m.certificateWarningDays, `${lb.value} days left`);
    });

    it('gives the app’s metrics to the monitor only, never through the load balancers', async () => {
      // Over TLS, as everything Nginx serves on the core: verified by the core address.
      const url = `https://${web.addresses.core ?? ''}:${lab.model.ports.appMetrics}/metrics`;
      const fromMon = await fetchOn(lab, mon.name, url, [
        '--cacert',
        trustedCa(hostPaths(lab.model, mon.name)),
      ]);
      assert.equal(fromMon.status, 200);
      assert.match(fromMon.body, /^foobar_http_requests_total\{.*server="web-01"/m);
      // Another host on the private network: its own firewall refuses it, the web server's would
      // drop it, and Nginx would refuse it too.
      await assertNotServed(lb?.name ?? '', url, /foobar_http_requests_total/);
      const throughLb = await fetchOn(
        lab,
        'client',
        `${siteUrl(lab.model)}metrics`,
        lab.siteFlags(lb),
      );
      assert.equal(throughLb.status, 404);
      assert.doesNotMatch(throughLb.body, /foobar_http_requests_total/);
    });

    it('serves the dashboard to this machine (the admin) and to nobody else', async () => {
      const admin = await fetch(dashboard);
      assert.equal(admin.status, 200);
      assert.match(await admin.text(), /<title>foobar monitoring<\/title>/);
      // mon's firewall drops it; without one, the dashboard itself answers 403.
      await assertNotServed('client', dashboard, /<title>foobar monitoring/);
    });

    it('foobar status shows the targets, no alert, and the dashboard’s address', async (t) => {
      // Earlier suites healed what they broke; a target scraped down or an alert still resolving
      // settles within a few scrape and evaluation intervals: wait for it, bounded, and report.
      const started = Date.now();
      let status: LabStatus | undefined;
      await waitFor(
        'every target up and no alert firing in foobar status',
        async () => {
          const json = await lab.cli('status', '--json');
          if (json.exitCode !== 0)
            return `status exited ${json.exitCode}: ${json.stdout.slice(0, 500)}`;
          status = JSON.parse(json.stdout) as LabStatus;
          const seen = status.monitoring;
          if (seen === undefined) return 'no monitoring section';
          const { up, total } = seen.targets;
          if (up !== total) return `${up}/${total} targets up`;
          if (seen.alerts.length > 0) return `firing: ${JSON.stringify(seen.alerts)}`;
          return undefined;
        },
        { timeoutMs: 3 * (deadlineMs + m.scrapeIntervalSeconds * 1000), maxIntervalMs: 1000 },
      );
      t.diagnostic(`settled after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      assert.equal(status?.monitoring?.dashboard, dashboard);
      assert.ok(status.monitoring.targets.total >= lab.model.hosts.length);
      const text = await lab.cli('status');
      assert.match(text.stdout, new RegExp(`Monitoring \\(dashboard ${dashboard}\\):`));
      assert.match(text.stdout, /● \d+\/\d+ Prometheus targets up\n {2}● no alert firing/);
    });

    it('a headless Chromium sees every host green, charts with data, and fetches nothing from outside', async () => {
      assert.ok(lb !== undefined);
      // Some users, so the charts have something to draw.
      await lab.visitKinds({ seconds: 3, kinds: ['page'], visitors: 4 }).done();
      const browser = await openBrowser(origin);
      try {
        const { page } = browser;
        await page.goto(dashboard);
        for (const host of lab.model.hosts) {
          const monitored = host.roles.some((role) => role !== 'client');
          await page.waitForSelector(
            `[data-host="${host.name}"][data-state="${monitored ? 'green' : 'grey'}"]`,
            { timeout: 15_000 },
          );
        }
        const withData = ['requests', 'errors', 'latency', 'site-errors'];
        const replicas = SCRAPE_JOBS.some((job) => job.job === 'mysqld');
        for (const chart of replicas ? [...withData, 'replication'] : withData) {
          await page.waitForFunction(
            (id) =>
              Number(document.querySelector(`[data-chart="${id}"]`)?.getAttribute('data-points')) >
              0,
            chart,
            { timeout: 15_000 },
          );
        }
        if (!replicas) {
          // No database tier in this lab yet: the chart says so instead of drawing nothing.
          assert.ok(await page.isVisible('[data-chart="replication"] .empty'));
        }
        assert.match(
          (await page.textContent('#summary')) ?? '',
          /^(\d+)\/\1 targets up · 0 alerts firing$/,
        );
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        assert.deepEqual(browser.foreign, []);
      } catch (error) {
        await browser.page.screenshot({ path: FAILURE_SCREENSHOT, fullPage: true });
        throw error;
      } finally {
        await browser.close();
      }
    });

    it('killing web-01’s app turns it red on the dashboard and fires AppDown to the alert log within the deadline; up heals it', async (t) => {
      const browser = await openBrowser(origin);
      try {
        const { page } = browser;
        await page.goto(dashboard);
        await page.waitForSelector(`[data-host="${web.name}"][data-state="green"]`, {
          timeout: 15_000,
        });
        const offset = ((await lab.ctx.driver.readFile(null, alertLog)) ?? '').length;
        const app = (await webDaemons(lab.ctx, web)).app;
        const killed = Date.now();
        assert.ok((await killDaemon(lab.ctx, app)) !== undefined, 'the app was running');
        const since = (): number => Date.now() - killed;
        // Alertmanager waits one evaluation interval to group what fires together.
        const notifyBoundMs = 3 * (deadlineMs + m.evaluationIntervalSeconds * 1000 + 2000);
        const [redMs, firingMs, notifiedMs] = await Promise.all([
          page
            .waitForSelector(
              `[data-host="${web.name}"][data-state="red"] [data-service="app"][data-state="red"]`,
              {
                timeout: boundMs + 5000,
              },
            )
            .then(since),
          waitFor(
            'AppDown to fire',
            async () =>
              (await firing()).includes(`AppDown ${web.name}`) ? undefined : 'not firing',
            { timeoutMs: boundMs + 5000, intervalMs: 200 },
          ).then(since),
          waitFor(
            'AppDown in the alert log',
            async () =>
              notified(await notificationsSince(offset), 'firing', 'AppDown', web.name)
                ? undefined
                : 'no notification yet',
            { timeoutMs: notifyBoundMs + 5000, intervalMs: 200 },
          ).then(since),
        ]);
        t.diagnostic(
          `after the kill: dashboard red in ${redMs} ms, AppDown firing in ${firingMs} ms, ` +
            `notified in ${notifiedMs} ms (design deadline ${deadlineMs} ms, test bound ${boundMs} ms)`,
        );
        assert.ok(redMs <= boundMs, `red after ${redMs} ms`);
        assert.ok(firingMs <= boundMs, `firing after ${firingMs} ms`);
        assert.ok(notifiedMs <= notifyBoundMs, `notified after ${notifiedMs} ms`);
        // While an alert fires and the site still answers, status says degraded: exit code 1.
        const status = await lab.cli('status', '--json');
        assert.equal(status.exitCode, 1, status.stdout);
        assert.equal((JSON.parse(status.stdout) as LabStatus).health, 'degraded');
        assert.match(status.stdout, /AppDown/);
        await page.waitForSelector(
          `tr[data-alert="AppDown"][data-host="${web.name}"][data-state="firing"]`,
        );

        await runPlan(upPlan(lab.ctx));
        await page.waitForSelector(`[data-host="${web.name}"][data-state="green"]`, {
          timeout: boundMs + 5000,
        });
        await waitFor(
          'AppDown resolved in the alert log',
          async () =>
            notified(await notificationsSince(offset), 'resolved', 'AppDown', web.name)
              ? undefined
              : 'not resolved yet',
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        await noAlertFiring();
      } finally {
        await browser.close();
      }
    });

    it('a replica that stops replicating fires ReplicationStopped, the next write leaves the primary asynchronous, and up resolves both', async (t) => {
      const primary = lab.model.database.initialPrimary;
      const replica = hostsWithRole(lab.model, 'db').find((h) => h.name !== primary)?.name;
      assert.ok(replica !== undefined && lb !== undefined, 'the test lab has a replica');
      const offset = ((await lab.ctx.driver.readFile(null, alertLog)) ?? '').length;
      const stopped = Date.now();
      await sql(lab, replica, 'STOP SLAVE');
      // No replica acknowledges this commit: it waits out the semi-sync timeout, then goes async.
      const write = await fetchOn(lab, 'client', `${siteUrl(lab.model)}api/messages`, [
        ...lab.siteFlags(lb),
        '-X',
        'POST',
        '-H',
        'content-type: application/json',
        '--data-binary',
        JSON.stringify({ text: 'written while a replica stands still' }),
      ]);
      assert.equal(write.status, 201, write.body);
      const deadline = boundMs + lab.model.database.semiSyncTimeoutMs + 5000;
      const firingWithin = async (alert: string, host: string): Promise<number> => {
        await waitFor(
          `${alert} on ${host}`,
          async () => ((await firing()).includes(`${alert} ${host}`) ? undefined : 'not firing'),
          { timeoutMs: deadline, intervalMs: 200 },
        );
        return Date.now() - stopped;
      };
      const [replicationMs, semiSyncMs] = await Promise.all([
        firingWithin('ReplicationStopped', replica),
        firingWithin('SemiSyncFellBackToAsync', primary),
      ]);
      t.diagnostic(
        `after STOP SLAVE: ReplicationStopped firing in ${replicationMs} ms, SemiSyncFellBackToAsync in ${semiSyncMs} ms`,
      );
      assert.ok(replicationMs <= boundMs, `ReplicationStopped after ${replicationMs} ms`);
      await waitFor(
        'both in the alert log',
        async () => {
          const list = await notificationsSince(offset);
          return notified(list, 'firing', 'ReplicationStopped', replica) &&
            notified(list, 'firing', 'SemiSyncFellBackToAsync', primary)
            ? undefined
            : 'not yet';
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      await runPlan(upPlan(lab.ctx));
      await noAlertFiring();
    });
  });
}
