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
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { NetnsDriver } from '../../src/drivers/netns.ts';
import type { ExecResult } from '../../src/drivers/driver.ts';
import { runProcess } from '../../src/drivers/process.ts';
import { buildModel } from '../../src/model/build.ts';
import { labNames, labNamespaces } from '../../src/model/lab.ts';
import { addressOf, findHost, type Host, type Model } from '../../src/model/model.ts';
import { siteCurlFlags } from '../../src/probes/site.ts';
import { createContext, type Context } from '../../src/steps/context.ts';
import { downPlan, removeEmptyState } from '../../src/steps/down.ts';
import { runPlan } from '../../src/steps/plan.ts';
import { upPlan } from '../../src/steps/up.ts';
import { startVisitors, type VisitorsRun } from '../../src/drill/load.ts';
import {
  summarizeVisits,
  VISIT_KINDS,
  type VisitKind,
  type VisitSummary,
} from '../../src/load/visits.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
/** Where `ip netns add` mounts each namespace. */
const NETNS_RUN = '/run/netns';
/**
 * Name and network prefix of the test lab. Two checkouts testing at once on one machine set
 * FOOBAR_TEST_LAB and FOOBAR_TEST_NET (e.g. fbx and 10.74), and FOOBAR_TEST_NET2 for the second
 * lab (below), so their labs do not meet.
 */
export const TEST_LAB_NAME = process.env.FOOBAR_TEST_LAB ?? 'fbt';
/** The test lab's second internet client. */
export const BOT = 'bot';
const TEST_NET = process.env.FOOBAR_TEST_NET ?? '10.79';
/**
 * The lab of test/lab-faults.test.ts, which runs beside the first one: the test lab's name with a
 * 2, and FOOBAR_TEST_NET2 (10.81 unless told; 10.77 is the default lab's, `npm start`'s).
 */
export const SECOND_TEST_LAB: LabIdentity = {
  name: `${TEST_LAB_NAME}2`,
  net: process.env.FOOBAR_TEST_NET2 ?? '10.81',
};
/**
 * What the test labs add to the default config. A small log cap (rotation at 4 MB): the logs
 * tests reach their rotations sooner, and every test under load runs with logs rotating as a busy
 * site's do. The bench keeps the default.
 */
export const TEST_LAB_CONFIG = { logs: { maxMegabytesPerHost: 20 } } as const;

export interface TestLab {
  readonly model: Model;
  readonly ctx: Context;
  readonly configFile: string;
  host(name: string): Host;
  /** Runs the real CLI (bin/foobar.js) against this lab. */
  cli(...args: string[]): Promise<ExecResult>;
  /** The command line that runs the real CLI against this lab: `[node, bin/foobar.js, --config, FILE, ...args]`. */
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
  /**
   * Browsing visitors from the client host (pages, their assets, writes: src/load/visitors.ts)
   * on kept-alive connections until `stop()`, or `maxSeconds` at most.
   */
  visits(maxSeconds: number, concurrency?: number): RunningVisits;
  /**
   * Visitors of some kinds from the client host, as `foobar drill` sends them
   * (src/load/visitors.ts): `visitors` of each kind, each asking again as soon as it is answered,
   * for `seconds` or until `stop()`.
   */
  visitKinds(run: KindVisits): RunningVisits;
  up(): Promise<void>;
  down(purge?: boolean): Promise<void>;
  /** The same lab (name, state) with more in its config: e.g. one more host for `up` to add. */
  extend(overrides: Record<string, unknown>, tag: string): TestLab;
  /** Deletes the config file written for this lab. */
  removeConfig(): void;
}

/**
 * Visitors by kind. Unless told: on kept-alive connections, two of each kind, and a visitor gives
 * up on a request after 5 s (a failure).
 */
export interface KindVisits extends Omit<
  VisitorsRun,
  'prefix' | 'browse' | 'intervalMs' | 'signal'
> {
  readonly kinds: readonly VisitKind[];
}

export interface RunningVisits {
  /**
   * Resolves once the first page was served or write acknowledged (bounded: it throws after a
   * minute); visitors that ask for neither are never ready.
   */
  ready(): Promise<void>;
  /** Resolves to what the visitors saw once they left on their own (`seconds` passed). */
  done(): Promise<VisitSummary>;
  /** Ends the load (at once, between visits) and resolves to what the visitors saw. */
  stop(): Promise<VisitSummary>;
}

export interface LabIdentity {
  readonly name: string;
  /** The first two octets of the lab's subnets: "10.79" gives 10.79.1.0/24 and 10.79.2.0/24. */
  readonly net: string;
}

let visitRuns = 0;

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
    path.join(REPO, 'bin/foobar.js'),
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
    visits: (maxSeconds, concurrency = 6) =>
      visiting(ctx, {
        seconds: maxSeconds,
        browse: true,
        connections: 'kept',
        visitors: concurrency,
        timeoutMs: 10_000,
      }),
    visitKinds: (run) =>
      visiting(ctx, { connections: 'kept', visitors: 2, timeoutMs: 5000, ...run }),
    up: () => runPlan(upPlan(ctx)),
    down: async (purge = false) => {
      await runPlan(downPlan(ctx, { purge }));
      // As `foobar down --purge` does once its lock is released: the emptied state directory too.
      if (purge) await removeEmptyState(ctx);
    },
    extend: (more, tag) => createTestLab({ ...overrides, ...more }, identity, { stateDir, tag }),
    removeConfig: () => {
      rmSync(configFile, { force: true });
    },
  };
}

/** Visitors from the client host, each asking again as soon as it is answered. */
function visiting(ctx: Context, run: Omit<VisitorsRun, 'prefix' | 'intervalMs'>): RunningVisits {
  const visitors = startVisitors(ctx, {
    ...run,
    prefix: `visits-${process.pid}-${visitRuns++}`,
    intervalMs: 0,
  });
  visitors.report.catch(() => undefined);
  const done = async (): Promise<VisitSummary> => summarizeVisits(await visitors.report);
  return {
    ready: () => visitors.ready(60_000),
    done,
    async stop() {
      await visitors.stop();
      return done();
    },
  };
}

/** What identifies the lab's processes once its namespaces and state may be gone. */
export interface LabTrace {
  /** Network namespace inode → namespace name, for every namespace of the lab. */
  readonly namespaces: ReadonlyMap<number, string>;
  /** Every process a pid file under the lab's state recorded: pid, start time, the file. */
  readonly recorded: readonly { pid: number; start: string; file: string }[];
}

/** /proc/PID/stat's state and start time (field 22), or undefined when the process is gone. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

/** The process's command line, spaces between arguments ('' once it has exited). */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

function netnsInode(pid: number): number | undefined {
  try {
    return Number(/^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1]);
  } catch {
    return undefined;
  }
}

/**
 * Takes the lab's fingerprints while it is up (before `down`): the inode of each of its network
 * namespaces, and the processes its pid files name. A namespace that `down` deletes while a
 * process still holds it is no longer listed by `ip netns`, but the process still points at it.
 */
export function traceLab(lab: TestLab): LabTrace {
  const namespaces = new Map<number, string>();
  for (const ns of labNamespaces(lab.model)) {
    try {
      namespaces.set(statSync(path.join(NETNS_RUN, ns)).ino, ns);
    } catch {
      // Not there: nothing can be in it.
    }
  }
  const recorded: { pid: number; start: string; file: string }[] = [];
  const state = lab.model.lab.stateDir;
  const entries = existsSync(state)
    ? readdirSync(state, { recursive: true, encoding: 'utf8' })
    : [];
  for (const entry of entries) {
    if (!entry.endsWith('.pid')) continue;
    const file = path.join(state, entry);
    let pid: number;
    try {
      pid = Number(readFileSync(file, 'utf8').trim());
    } catch {
      continue;
    }
    const stat = Number.isInteger(pid) && pid > 0 ? procStat(pid) : undefined;
    if (stat === undefined) continue;
    // A stale pid file may name a pid reused by someone else's process: keep only ours.
    const ours = namespaces.has(netnsInode(pid) ?? -1) || commandLine(pid).includes(state);
    if (ours) recorded.push({ pid, start: stat.start, file });
  }
  return { namespaces, recorded };
}

/**
 * What the lab may have left on this machine: namespaces, this machine's link, resolver
 * directories, and live processes — found in any of the lab's namespaces (listed or deleted),
 * named by its pid files (same pid, same start time), or with its state path on the command line.
 */
export async function leftovers(lab: TestLab, trace: LabTrace): Promise<string[]> {
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
  const recorded = new Map(trace.recorded.map((r) => [r.pid, r]));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const pid = Number(entry);
    const stat = procStat(pid);
    // Gone, or dead and waiting to be reaped: nothing runs.
    if (stat === undefined || stat.state === 'Z' || stat.state === 'X') continue;
    const cmdline = commandLine(pid);
    const ns = trace.namespaces.get(netnsInode(pid) ?? -1);
    const file = recorded.get(pid);
    const why =
      ns !== undefined
        ? `in namespace ${ns}`
        : file?.start === stat.start
          ? `recorded in ${file.file}`
          : cmdline.includes(lab.model.lab.stateDir)
            ? 'names the state directory'
            : undefined;
    if (why !== undefined) found.push(`process ${entry} (${why}): ${cmdline}`);
  }
  return found;
}

/** Visits that ran (at least `minVisits` pages) and where every page, asset and write succeeded. */
/**
 * Visits that ran (at least `minVisits` pages) and saw no failure. `writesCut`: so many writes
 * may have failed with 502 or a closed connection, the honest answers for a write in flight on a
 * process that died under it (it may have run, so it is never retried: HAProxy answers 502, or
 * closes the visitor's kept-alive connection so that the visitor may decide); pages and assets
 * never.
 */
export function assertCleanVisits(summary: VisitSummary, minVisits: number, writesCut = 0): void {
  assert.ok(
    summary.kinds.page.requests >= minVisits,
    `visits ran: ${JSON.stringify(summary.kinds)}`,
  );
  const failures = Object.fromEntries(
    VISIT_KINDS.map((kind) => {
      const { requests, ok, errors } = summary.kinds[kind];
      return [kind, { failed: requests - ok, errors }];
    }),
  );
  const none = { failed: 0, errors: {} };
  const writes = summary.kinds.write;
  const cut = writes.requests - writes.ok;
  const answered502 = writes.statuses['502'] ?? 0;
  const closed = writes.errors.ECONNRESET ?? 0;
  const honest = cut === answered502 + closed && cut <= writesCut;
  assert.deepEqual(
    { ...failures, write: honest ? none : failures.write },
    { page: none, static: none, read: none, write: none, whoami: none },
    JSON.stringify(summary),
  );
  assert.ok(
    summary.kinds.static.requests >= summary.kinds.page.requests,
    'each page’s assets asked',
  );
  assert.ok(writes.requests > 0, 'writes made');
}

/**
 * Visitors of `kinds` that ran (at least `minRequests` of each kind) and saw no failed request and
 * no socket error.
 */
export function assertServed(
  summary: VisitSummary,
  kinds: readonly VisitKind[],
  minRequests: number,
): void {
  for (const kind of kinds) {
    const { requests, ok, errors } = summary.kinds[kind];
    assert.ok(requests >= minRequests, `${kind}: the load ran (${requests} requests)`);
    assert.deepEqual(
      { failed: requests - ok, errors },
      { failed: 0, errors: {} },
      `${kind}: ${JSON.stringify(summary.kinds[kind])}`,
    );
  }
}
