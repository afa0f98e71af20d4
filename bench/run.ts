/**
 * `npm run bench`: throughput and latency through each tier, measured with wrk in one run on a lab
 * of its own. Each path's figure is given as a ratio to its direct figure (the daemon alone), which
 * holds better than absolute numbers on a shared, noisy machine.
 *
 * Where wrk runs: "direct" targets are only reachable inside a web server (the app listens on
 * loopback; web servers have no edge address), so wrk runs there; "via LB" runs on the client
 * host, as a user would: HTTPS to www through DNS (TLS ends at HAProxy; wrk keeps connections
 * alive, so this measures the proxies, not handshakes).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hostsWithRole } from '../src/model/model.ts';
import { deploy, STRATEGIES, type Strategy } from '../src/steps/deploy.ts';
import { buildApp, liveRelease } from '../src/steps/release.ts';
import { appVariant, removeAppVariants } from '../test/support/apps.ts';
import { siteUrl } from '../src/probes/site.ts';
import { createTestLab, type TestLab } from '../test/support/lab.ts';
import { parseWrk, wrk, type WrkOptions, type WrkResult } from './wrk.ts';
import { formatTimings, measureCommands } from './commands.ts';

interface Case {
  readonly name: string;
  readonly host: string;
  readonly url: string;
  /** The case whose figure this one is compared with. */
  readonly baseline: string;
}

interface Measured extends Case, WrkResult {
  readonly ratio: number;
}

const OPTIONS: WrkOptions = {
  seconds: Number(process.env.BENCH_SECONDS ?? 5),
  connections: 32,
  threads: 2,
};

async function measure(lab: TestLab, c: Case): Promise<WrkResult> {
  // A short warm-up: JIT, connection pools, page cache.
  await lab.ctx.driver.exec(c.host, wrk(c.url, { ...OPTIONS, seconds: 1 }));
  const result = await lab.ctx.driver.exec(c.host, wrk(c.url, OPTIONS));
  return parseWrk(result.stdout);
}

function table(rows: readonly Measured[]): string {
  const header = ['path', 'from', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'ratio'];
  const body = rows.map((r) => [
    r.name,
    r.host,
    r.requestsPerSecond.toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    String(r.errors),
    r.baseline === r.name ? '1 (direct)' : `${r.ratio.toFixed(2)} of ${r.baseline}`,
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/**
 * A deploy's wall time, and what users saw while it ran: visitors asking for the home page back to
 * back on kept-alive connections, as `foobar drill` sends them, for longer than it takes.
 */
async function deployUnderLoad(lab: TestLab, strategy: Strategy) {
  const visitors = lab.visitKinds({ seconds: 8, kinds: ['page'], visitors: 8 });
  await visitors.ready();
  const result = await deploy(lab.ctx, {
    action: 'deploy',
    strategy,
    release: () => buildApp(lab.ctx, appVariant(`bench-${strategy}`)),
  });
  const seen = (await visitors.done()).kinds.page;
  return {
    strategy,
    servers: hostsWithRole(lab.model, 'web').length,
    seconds: result.seconds,
    requests: seen.requests,
    failed: seen.requests - seen.ok,
    errors: seen.errors,
  };
}

async function main(): Promise<void> {
  // A lab of its own, beside a running lab and a running npm test.
  const lab = createTestLab({}, { name: 'fbb', net: '10.80' });
  const web = 'web-01';
  // Through the load balancers as users come: the name, over HTTPS (wrk does not check the
  // certificate; the rate limit exempts the test lab's client).
  const site = siteUrl(lab.model).slice(0, -1);
  await lab.down();
  process.stdout.write(`bench: bringing up lab ${lab.model.lab.name}\n`);
  await lab.up();
  try {
    const release = await liveRelease(lab.ctx, web);
    const asset = `/static/${release ?? ''}/app.css`;
    const app = lab.model.ports.app;
    const tiers = (name: string, route: string): Case[] => [
      {
        name: `${name}, direct`,
        host: web,
        url: `http://127.0.0.1:${app}${route}`,
        baseline: `${name}, direct`,
      },
      {
        name: `${name}, via Nginx`,
        host: web,
        url: `http://127.0.0.1${route}`,
        baseline: `${name}, direct`,
      },
      {
        name: `${name}, via LB`,
        host: 'client',
        url: `${site}${route}`,
        baseline: `${name}, direct`,
      },
    ];
    const cases: Case[] = [
      {
        name: 'static, Nginx direct',
        host: web,
        url: `http://127.0.0.1${asset}`,
        baseline: 'static, Nginx direct',
      },
      {
        name: 'static, via LB',
        host: 'client',
        url: `${site}${asset}`,
        baseline: 'static, Nginx direct',
      },
      // The app in three tiers: its home page (rendered, no database) and /api/whoami, which
      // asks the primary and a replica who they are on every request (database-bound).
      ...tiers('app page /', '/'),
      ...tiers('app /api/whoami (db)', '/api/whoami'),
    ];
    const results = new Map<string, WrkResult>();
    for (const c of cases) {
      process.stdout.write(`bench: ${c.name} (${OPTIONS.seconds} s)\n`);
      results.set(c.name, await measure(lab, c));
    }
    const rows: Measured[] = cases.map((c) => {
      const result = results.get(c.name);
      const base = results.get(c.baseline);
      if (result === undefined || base === undefined) throw new Error(`no result for ${c.name}`);
      return { ...c, ...result, ratio: result.requestsPerSecond / base.requestsPerSecond };
    });
    process.stdout.write(`\n${table(rows)}\n`);
    const deploys = [];
    for (const strategy of STRATEGIES) {
      process.stdout.write(`bench: ${strategy} deploy under load\n`);
      deploys.push(await deployUnderLoad(lab, strategy));
    }
    process.stdout.write(
      `\n${deploys
        .map(
          (d) =>
            `deploy (${d.strategy}) to ${d.servers} web servers: ${d.seconds.toFixed(2)} s, ${d.failed} failed of ${d.requests} requests during it`,
        )
        .join('\n')}\n`,
    );
    process.stdout.write('bench: the commands, 5 runs each\n');
    const commands = await measureCommands(lab.configFile, 5);
    process.stdout.write(`\n${formatTimings(commands)}\n`);
    const report = { when: new Date().toISOString(), wrk: OPTIONS, cases: rows, deploys, commands };
    const dir = path.join(import.meta.dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `bench-${report.when.replaceAll(':', '-')}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`\nbench: JSON in ${file}\n`);
  } finally {
    await lab.down(true);
    lab.removeConfig();
    removeAppVariants();
  }
}

await main();
