/**
 * The lab the integration tests use: its own name (fbt), subnets and state directory, so it runs
 * beside a lab from `npm start` without touching it, and leaves nothing behind.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { NetnsDriver } from '../../src/drivers/netns.ts';
import type { ExecResult } from '../../src/drivers/driver.ts';
import { runProcess } from '../../src/drivers/process.ts';
import { buildModel } from '../../src/model/build.ts';
import { labNames } from '../../src/model/lab.ts';
import { labPaths } from '../../src/model/layout.ts';
import { addressOf, findHost, type Host, type Model } from '../../src/model/model.ts';
import { siteCurlFlags } from '../../src/probes/site.ts';
import { createContext, type Context } from '../../src/steps/context.ts';
import { downPlan } from '../../src/steps/down.ts';
import { runPlan } from '../../src/steps/plan.ts';
import { upPlan } from '../../src/steps/up.ts';
import type { LoadSummary } from '../../src/load/loadgen.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
/**
 * Name and network prefix of the test lab. Two checkouts testing at once on one machine set
 * FOOBAR_TEST_LAB and FOOBAR_TEST_NET (e.g. fbt2 and 10.81) so their labs do not meet.
 */
export const TEST_LAB_NAME = process.env.FOOBAR_TEST_LAB ?? 'fbt';
/** The test lab's second internet client. */
export const BOT = 'bot';
const TEST_NET = process.env.FOOBAR_TEST_NET ?? '10.79';

export interface TestLab {
  readonly model: Model;
  readonly ctx: Context;
  readonly configFile: string;
  host(name: string): Host;
  /** Runs the real CLI (bin/foobar.ts) against this lab. */
  cli(...args: string[]): Promise<ExecResult>;
  /** The command line that runs the real CLI against this lab: `[node, bin/foobar.ts, --config, FILE, ...args]`. */
  cliArgv(...args: string[]): string[];
  /** The same, for a command that may take longer than two minutes (a drill). */
  cliWithin(timeoutMs: number, ...args: string[]): Promise<ExecResult>;
  /** Runs a command on a lab host (null: this machine, the admin), as a user there would. */
  on(host: string | null, argv: readonly string[], timeoutMs?: number): Promise<ExecResult>;
  /** A Node.js script of this repository, run on a lab host (null: this machine). */
  script(
    host: string | null,
    file: string,
    args: readonly string[],
    timeoutMs?: number,
  ): Promise<ExecResult>;
  /** curl flags for the site: the lab's CA, and the load balancer to ask when given. */
  siteFlags(lb?: Host): string[];
  /** A bounded load from the client host (more loadgen flags in `args`); resolves when it ends. */
  load(
    url: string,
    seconds: number,
    concurrency?: number,
    args?: readonly string[],
  ): Promise<LoadSummary>;
  up(): Promise<void>;
  down(purge?: boolean): Promise<void>;
  /** The same lab (name, state) with more in its config: e.g. one more host for `up` to add. */
  extend(overrides: Record<string, unknown>, tag: string): TestLab;
  /** Deletes the config file written for this lab. */
  removeConfig(): void;
}

export interface LabIdentity {
  readonly name: string;
  /** The first two octets of the lab's subnets: "10.79" gives 10.79.1.0/24 and 10.79.2.0/24. */
  readonly net: string;
}

export function createTestLab(
  overrides: Record<string, unknown> = {},
  identity: LabIdentity = { name: TEST_LAB_NAME, net: TEST_NET },
  existing?: { stateDir: string; tag: string },
): TestLab {
  const stateDir = existing?.stateDir ?? mkdtempSync(path.join(os.tmpdir(), 'foobar-test-'));
  // The app's user and Nginx's workers must get through it.
  chmodSync(stateDir, 0o755);
  const config = {
    lab: { name: identity.name, stateDir },
    networks: {
      edge: { subnet: `${identity.net}.1.0/24` },
      core: { subnet: `${identity.net}.2.0/24` },
    },
    // A second internet client, `bot`, for what one client does to the others (bursts, garbage).
    // The load of the failure tests comes from `client`, exempt from the per-client rate limit
    // as an operator exempts a load generator.
    hosts: { [BOT]: { roles: ['client'], edge: 101 } },
    limits: { rateLimit: { exempt: ['client'] } },
    ...overrides,
  };
  const configFile =
    existing === undefined ? `${stateDir}.yaml` : `${stateDir}-${existing.tag}.yaml`;
  writeFileSync(configFile, stringify(config));
  const model = buildModel(config, configFile);
  const names = labNames(model);
  const ctx = createContext(model, new NetnsDriver((host) => names.namespaceOf(host)));
  const cliArgv = (...args: string[]): string[] => [
    process.execPath,
    path.join(REPO, 'bin/foobar.ts'),
    '--config',
    configFile,
    ...args,
  ];
  const cliWithin = (timeoutMs: number, ...args: string[]): Promise<ExecResult> =>
    runProcess(cliArgv(...args), { timeoutMs, env: { ...process.env, NO_COLOR: '1' } });
  return {
    model,
    ctx,
    configFile,
    host(name) {
      const host = findHost(model, name);
      if (host === undefined) throw new Error(`no host ${name}`);
      return host;
    },
    cli: (...args) => cliWithin(120_000, ...args),
    cliWithin,
    cliArgv,
    on: (host, argv, timeoutMs = 30_000) =>
      ctx.driver.exec(host, { argv, timeoutMs }, { check: false }),
    script: (host, file, args, timeoutMs = 30_000) =>
      ctx.driver.exec(
        host,
        { argv: [process.execPath, path.join(REPO, file), ...args], timeoutMs },
        { check: false },
      ),
    siteFlags: (lb) => siteCurlFlags(model, lb === undefined ? undefined : addressOf(lb, 'edge')),
    async load(url, seconds, concurrency = 8, args = []) {
      const result = await ctx.driver.exec('client', {
        argv: [
          process.execPath,
          path.join(REPO, 'src/load/loadgen.ts'),
          '--url',
          url,
          '--seconds',
          String(seconds),
          '--concurrency',
          String(concurrency),
          '--cacert',
          labPaths(model).caCertificate,
          ...args,
        ],
        timeoutMs: (seconds + 30) * 1000,
      });
      return JSON.parse(result.stdout) as LoadSummary;
    },
    up: () => runPlan(upPlan(ctx)),
    down: (purge = false) => runPlan(downPlan(ctx, { purge })),
    extend: (more, tag) => createTestLab({ ...overrides, ...more }, identity, { stateDir, tag }),
    removeConfig: () => {
      rmSync(configFile, { force: true });
    },
  };
}

/** What the lab may have left on this machine: namespaces, this machine's link, processes. */
export async function leftovers(lab: TestLab): Promise<string[]> {
  const found: string[] = [];
  const netns = await runProcess(['ip', 'netns', 'list']);
  for (const line of netns.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (name.startsWith(`${lab.model.lab.name}-`)) found.push(`namespace ${name}`);
  }
  for (const host of lab.model.hosts) {
    const dir = path.dirname(lab.ctx.names.resolvConfOf(host.name));
    if (existsSync(dir)) found.push(`directory ${dir}`);
  }
  const link = await runProcess(['ip', 'link', 'show', lab.ctx.names.adminLink]);
  if (link.exitCode === 0) found.push(`link ${lab.ctx.names.adminLink}`);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmdline.includes(lab.model.lab.stateDir)) found.push(`process ${entry}: ${cmdline.trim()}`);
  }
  return found;
}

/** A load that ran (at least `minRequests`) and saw no failed request and no socket error. */
export function assertCleanLoad(summary: LoadSummary, minRequests: number): void {
  assert.ok(summary.requests > minRequests, `load ran (${summary.requests} requests)`);
  assert.deepEqual(
    { failed: summary.failed, errors: summary.errors },
    { failed: 0, errors: {} },
    JSON.stringify(summary),
  );
}
