/**
 * Automatic failover on machines, as a visitor and the database see it: writers through the site
 * from this machine (a new connection for each write, both virtual addresses in turn, as new
 * visitors come), the primary's MariaDB killed, and nobody at the keyboard: the failover managers
 * on the load balancers' machines (their bundle, their systemd unit, their own SSH key) fence the
 * old primary, promote the replica and repoint the apps. Every acknowledged write is then counted
 * on the new primary: none lost, none stored twice.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { auditWrites, storedMessages } from '../../src/drill/writes.ts';
import { readAudit } from '../../src/steps/audit.ts';
import type { Driver } from '../../src/drivers/driver.ts';
import { killService } from '../../src/faults/inject.ts';
import { sleep, waitFor } from '../../src/lib/wait.ts';
import { summarizeWrites, type VisitorsReport, type WriteSummary } from '../../src/load/visits.ts';
import { buildModel } from '../../src/model/build.ts';
import { failoverMembers } from '../../src/model/failover.ts';
import { parseConfigText } from '../../src/model/load.ts';
import { findHost, type Host } from '../../src/model/model.ts';
import { createContext, type Context } from '../../src/steps/context.ts';
import { runningPid } from '../../src/steps/daemon.ts';
import { mariadbDaemon } from '../../src/steps/services.ts';
import { readDbState, type DbState } from '../../src/steps/db/state.ts';
import type { DbStatus } from '../../src/steps/db/status.ts';
import { assertNoStrayRows, firstWriteAfter } from '../support/db.ts';

const VISITORS = path.resolve(import.meta.dirname, '../../src/load/visitors.ts');
const WRITERS = 4;
/** Kill → a write acknowledged by the new primary: 27.3 s measured at a load average of 20–25. */
const WRITES_BACK_BOUND_MS = 120_000;

/**
 * Silence → a write acknowledged by the new primary: bounded like the kill (the web servers'
 * fences wait REACH_TIMEOUT_MS for the silent one before it is taken out of rotation).
 */
const SILENT_WRITES_BACK_BOUND_MS = 120_000;
/** How long the writers go on once the healed machine serves again: it takes none of them. */
const AFTER_SILENCE_MS = 10_000;
/**
 * Heard again → healed by the managers: their next try (every 3 s) kills its old server and
 * tells its firewall and app, a few round trips; bounded with room for a loaded machine.
 */
const HEALED_BOUND_MS = 90_000;

/** The site test's machines, as its config file describes them. */
export interface MachinesSite {
  /** Runs commands on this machine. */
  readonly local: Driver;
  readonly config: string;
  /** A directory of the test's own on this machine. */
  readonly dir: string;
  /** The site's virtual addresses: the writers reach it through both. */
  readonly virtual: readonly string[];
  /** What the writers trust for the site's certificate. */
  readonly trust: string;
  /** The CLI, as an operator runs it. */
  foobar(
    args: readonly string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

function contextOf(site: MachinesSite): Context {
  const model = buildModel(
    parseConfigText(readFileSync(site.config, 'utf8'), site.config),
    site.config,
  );
  return createContext(model);
}

/** Armed: etcd's quorum, a leading manager, every observer reaching the primary. */
async function armed(site: MachinesSite, members: number): Promise<void> {
  await waitFor(
    'the failover managers armed, every one observing the primary',
    async () => {
      const status = await site.foobar(['db', 'status', '--json'], 120_000);
      let view: DbStatus['failover'];
      try {
        view = (JSON.parse(status.stdout) as DbStatus).failover;
      } catch {
        return `db status answered no JSON: ${status.stdout.slice(0, 200)}`;
      }
      if (!view.etcd || !view.armed) return view.pausedBecause;
      const reaching = view.observers.filter((o) => o.reachable).length;
      return reaching === members ? undefined : `${reaching} of ${members} observers reach it`;
    },
    { timeoutMs: 180_000, intervalMs: 2000 },
  );
}

/**
 * The writers' pause between the starts of two writes of one writer: their sum stays at half the
 * site's rate limit per client address even if one load balancer takes every write (this machine
 * is one client, and not exempt). Unpaced, they were refused 429 by the thousands, and since a
 * refused request counts in the rate too, they kept themselves refused: once no write reached
 * the new primary in a whole run ("no write reached web-02 after the kill").
 */
function writeIntervalMs(ctx: Context): number {
  const { requests, periodSeconds } = ctx.model.limits.rateLimit;
  return Math.ceil((WRITERS * periodSeconds * 1000) / (requests / 2));
}

/** Writers through the site from this machine, each write on a new connection, until stopped. */
function startWriters(
  site: MachinesSite,
  prefix: string,
): { ready(): Promise<void>; stop(): Promise<WriteSummary> } {
  const stopFile = path.join(site.dir, `${prefix}.stop`);
  const readyFile = path.join(site.dir, `${prefix}.ready`);
  const run = site.local.exec(
    null,
    {
      argv: [
        process.execPath,
        VISITORS,
        '--url',
        'https://www.foobar.com/',
        '--resolve',
        `www.foobar.com:${site.virtual.join(',')}`,
        '--cacert',
        site.trust,
        '--seconds',
        '300',
        '--prefix',
        prefix,
        '--concurrency',
        String(WRITERS),
        '--interval-ms',
        String(writeIntervalMs(contextOf(site))),
        '--timeout-ms',
        '20000',
        '--fresh',
        '--kind',
        'write',
        '--stop-file',
        stopFile,
        '--ready-file',
        readyFile,
      ],
      timeoutMs: 400_000,
    },
    { check: false },
  );
  run.catch(() => undefined);
  return {
    ready: () =>
      waitFor(
        'the writers’ first acknowledged write',
        () => Promise.resolve(existsSync(readyFile) ? undefined : 'none yet'),
        { timeoutMs: 60_000, intervalMs: 100 },
      ),
    async stop() {
      await site.local.writeFile(null, stopFile, '');
      const result = await run;
      rmSync(stopFile, { force: true });
      rmSync(readyFile, { force: true });
      assert.equal(result.exitCode, 0, `the writers: ${result.stderr.slice(-500)}`);
      const summary = summarizeWrites(JSON.parse(result.stdout) as VisitorsReport);
      // Under the limit by construction: a 429 is the limit refusing a client it must not.
      assert.equal(
        summary.failures['429'] ?? 0,
        0,
        `writers paced under the rate limit were refused 429: ${JSON.stringify(summary.failures)}`,
      );
      return summary;
    },
  };
}

/** When nobody failed over: what the managers and the old primary said, for the failure's message. */
async function whyNot(site: MachinesSite, primary: string): Promise<string> {
  const ctx = contextOf(site);
  const asks = [
    ['db', 'status'],
    ['logs', primary, 'mariadb', '-n', '15'],
    ...failoverMembers(ctx.model).map((m) => ['logs', m.name, 'failover-manager', '-n', '15']),
  ];
  const said: string[] = [];
  for (const args of asks) {
    const result = await site.foobar(args, 60_000).catch((e: unknown) => ({
      exitCode: -1,
      stdout: String(e),
    }));
    said.push(`$ foobar ${args.join(' ')} (exit ${result.exitCode})\n${result.stdout.trimEnd()}`);
  }
  return said.join('\n');
}

/** An armed site whose primary takes writers' writes, 2 s in: the fault comes next. */
async function writingToArmedSite(
  site: MachinesSite,
  members: number,
  fault: string,
): Promise<{
  readonly ctx: Context;
  readonly before: DbState;
  readonly old: Host;
  readonly prefix: string;
  readonly writers: ReturnType<typeof startWriters>;
}> {
  const ctx = contextOf(site);
  await armed(site, members);
  const before = await readDbState(ctx);
  const old = findHost(ctx.model, before.primary);
  assert.ok(old !== undefined);
  const prefix = `machines-${fault}-${Date.now()}`;
  const writers = startWriters(site, prefix);
  try {
    await writers.ready();
  } catch (error) {
    await writers.stop().catch(() => undefined);
    throw error;
  }
  await sleep(2000);
  return { ctx, before, old, prefix, writers };
}

/** Waits for a primary other than `old` in database.json; if none comes, says why not. */
async function promotedFrom(
  site: MachinesSite,
  ctx: Context,
  old: Host,
  timeoutMs: number,
): Promise<DbState> {
  await waitFor(
    `a primary other than ${old.name} in database.json`,
    async () => {
      const state = await readDbState(ctx);
      return state.primary === old.name ? `still ${old.name}` : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  ).catch(async (error: unknown) => {
    throw new Error(`${(error as Error).message}\n${await whyNot(site, old.name)}`);
  });
  return readDbState(ctx);
}

/**
 * Every acknowledged write on `primary` once, no more rows than were sent, and none acknowledged
 * by `old` once the new epoch was in force (`promotedAt`). Resolves to the rows stored.
 */
async function assertWritesKept(
  ctx: Context,
  summary: WriteSummary,
  prefix: string,
  primary: string,
  old: Host,
  promotedAt: number,
): Promise<number> {
  const rows = await storedMessages(ctx, primary, prefix);
  const audit = auditWrites(summary.acked, rows);
  assert.deepEqual(audit.lost, [], `acknowledged writes missing or wrong on ${primary}`);
  assert.deepEqual(audit.duplicated, [], `writes stored twice on ${primary}`);
  // A write whose connection died with the primary may have committed: never more than sent.
  assertNoStrayRows(rows.length, summary, WRITERS);
  assert.deepEqual(
    summary.acked.filter((a) => a.db === old.name && a.at > promotedAt),
    [],
    `${old.name} acknowledged writes after the new epoch`,
  );
  return rows.length;
}

/**
 * The primary's MariaDB SIGKILLed under writers: the replica is promoted with nobody at the
 * keyboard, a write is acknowledged by it within the bound, and every acknowledged write is on it
 * once. Returns the milliseconds from the kill to that write.
 */
export async function primaryKilledUnderWrites(
  t: TestContext,
  site: MachinesSite,
  members: number,
): Promise<number> {
  const { ctx, before, old, prefix, writers } = await writingToArmedSite(site, members, 'kill');
  let killedAt: number;
  let promotedAt: number;
  let summary: WriteSummary;
  try {
    killedAt = Date.now();
    await killService(ctx, old, 'mariadb');
    const next = await promotedFrom(site, ctx, old, WRITES_BACK_BOUND_MS);
    promotedAt = Date.now();
    assert.equal(next.epoch, before.epoch + 1);
    assert.deepEqual(next.fenced, [old.name]);
    // Writes go on a while on the new primary.
    await sleep(5000);
  } finally {
    summary = await writers.stop();
  }
  const state = await readDbState(ctx);
  const writesBackMs = firstWriteAfter(summary, killedAt, state.primary);
  const rows = await assertWritesKept(ctx, summary, prefix, state.primary, old, promotedAt);
  t.diagnostic(
    JSON.stringify({
      fault: `${old.name}: mariadb killed`,
      newPrimary: state.primary,
      killToNewTopologyMs: promotedAt - killedAt,
      killToFirstWriteOnNewPrimaryMs: writesBackMs,
      writesAcked: summary.acked.length,
      rowsStored: rows,
      writeFailures: summary.failures,
    }),
  );
  assert.ok(
    writesBackMs <= WRITES_BACK_BOUND_MS,
    `writes came back ${writesBackMs} ms after the kill (bound ${WRITES_BACK_BOUND_MS} ms)`,
  );
  return writesBackMs;
}

/** How long an operator waits for the failover managers' own change (a heal) to end. */
const LOCK_WAIT_MS = 2 * 60_000;

/**
 * A foobar command, as an operator runs it: again a little later while the failover managers hold
 * the site's lock (healing a host the last promotion owed, as they may at any moment).
 */
async function waitingForManagers(
  site: MachinesSite,
  args: readonly string[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    const result = await site.foobar(args, 5 * 60_000);
    const managers = result.stderr.includes(
      'another foobar is changing this lab: `failover manager on ',
    );
    if (result.exitCode === 0 || !managers || Date.now() >= deadline) return result;
    await sleep(2000);
  }
}

/** `foobar db rejoin`, as an operator runs it: with --reseed when foobar says it needs one. */
export async function rejoinAsOperator(site: MachinesSite, host: string): Promise<string> {
  const plain = await waitingForManagers(site, ['db', 'rejoin', host]);
  if (plain.exitCode === 0) return 'db rejoin';
  assert.match(plain.stderr, /--reseed/, `db rejoin ${host}: ${plain.stdout}\n${plain.stderr}`);
  const reseed = await site.foobar(['db', 'rejoin', host, '--reseed'], 5 * 60_000);
  assert.equal(
    reseed.exitCode,
    0,
    `db rejoin ${host} --reseed: ${reseed.stdout}\n${reseed.stderr}`,
  );
  return 'db rejoin, then db rejoin --reseed (it had transactions the new primary lacks)';
}

/** What the test needs of the machines themselves. */
export interface Silencer {
  silence(host: string): Promise<void>;
  unsilence(): Promise<void>;
  /** Undefined once the site is whole (every web server serving, replication running, a write taken). */
  whole(primary: string): Promise<string | undefined>;
}

/**
 * The primary's machine silenced under writers (every packet to and from it dropped on the
 * bridges' side; it keeps running): the managers promote the replica with nobody at the keyboard
 * within the bound, every acknowledged write is on the new primary once, the silent machine (also
 * a web server) is said to be unreached in the managers' audit line and in `db status`, and once
 * it is heard again its database takes no write: the managers heal it by themselves (its old
 * server killed, its firewall and app told, its web server back in rotation, writing to the new
 * primary), and the operator's `foobar db rejoin` makes it a replica; then the site is whole again. First the
 * former primary of the kill before is rejoined and automatic failover re-armed, as an operator
 * would.
 */
export async function primarySilencedUnderWrites(
  t: TestContext,
  site: MachinesSite,
  members: number,
  machines: Silencer,
): Promise<number> {
  const ctx = contextOf(site);
  for (const fenced of (await readDbState(ctx)).fenced) await rejoinAsOperator(site, fenced);
  const resumed = await site.foobar(['db', 'failover', 'resume'], 120_000);
  assert.equal(resumed.exitCode, 0, `${resumed.stdout}\n${resumed.stderr}`);
  const { before, old, prefix, writers } = await writingToArmedSite(site, members, 'silence');
  let silencedAt: number;
  let promotedAt: number;
  let heardAt: number;
  let healedAt: number;
  let summary: WriteSummary;
  /** db status --json while the machine is silent. */
  let silentStatus: string;
  try {
    silencedAt = Date.now();
    await machines.silence(old.name);
    try {
      await promotedFrom(site, ctx, old, SILENT_WRITES_BACK_BOUND_MS);
      promotedAt = Date.now();
      // Writes go on a while on the new primary; db status, while it is silent.
      await sleep(5000);
      const shown = await site.foobar(['db', 'status', '--json'], 120_000);
      silentStatus = shown.stdout;
    } finally {
      await machines.unsilence();
    }
    heardAt = Date.now();
    // Heard again, with its MariaDB still running as it was: no visitor's write may reach it.
    // The managers heal it by themselves: its old server killed, its firewall and app told, and
    // its web server back in rotation, writing to the new primary.
    await waitFor(
      `the managers heal ${old.name} (db status: unreached none)`,
      async () => {
        const state = await readDbState(ctx);
        return (state.unreached ?? []).length === 0
          ? undefined
          : `owed: ${(state.unreached ?? []).join(', ')}`;
      },
      { timeoutMs: HEALED_BOUND_MS, intervalMs: 500 },
    );
    healedAt = Date.now();
    await sleep(AFTER_SILENCE_MS);
  } finally {
    summary = await writers.stop();
  }
  const state = await readDbState(ctx);
  assert.equal(state.epoch, before.epoch + 1);
  assert.deepEqual(state.fenced, [old.name]);
  const status = JSON.parse(silentStatus) as DbStatus;
  assert.deepEqual(status.unreached, [old.name], 'db status names the silent machine');
  assert.ok(
    status.problems.some((p) => p.startsWith(`${old.name} could not be reached`)),
    status.problems.join('; '),
  );
  const entries = await readAudit(ctx);
  const healing = entries.findLast((e) => e.action === 'unreached healed');
  // Its old server is dead: killed by the heal, or already by the promotion's kill, which goes
  // on in the background past its timeout and may reach the machine first once it is heard.
  assert.match(
    healing?.detail ?? '',
    new RegExp(
      `healed ${old.name}: ${old.name} (killed \\(pid \\d+\\)|was not running).*app told the primary, back in rotation`,
    ),
  );
  assert.equal(
    await runningPid(ctx, mariadbDaemon(ctx, old, state)),
    undefined,
    `${old.name}: its old server runs after the heal`,
  );
  const action = entries.findLast((e) => e.action === 'automatic failover');
  assert.equal(action?.outcome, 'succeeded', action?.detail);
  assert.match(
    action.detail ?? '',
    new RegExp(`${old.name}: firewall: .*out of every load balancer`),
  );
  const writesBackMs = firstWriteAfter(summary, silencedAt, state.primary);
  // Also once heard again: its database took none.
  const rows = await assertWritesKept(ctx, summary, prefix, state.primary, old, promotedAt);
  // The operator makes it a replica (the managers never do: its data may have diverged).
  const rejoinStarted = Date.now();
  const how = await rejoinAsOperator(site, old.name);
  const rejoinMs = Date.now() - rejoinStarted;
  await waitFor('the site whole again', () => machines.whole(state.primary), {
    timeoutMs: 5 * 60_000,
    intervalMs: 500,
    maxIntervalMs: 2000,
  });
  const wholeMs = Date.now() - rejoinStarted;
  const after = JSON.parse(
    (await site.foobar(['db', 'status', '--json'], 120_000)).stdout,
  ) as DbStatus;
  assert.deepEqual(after.unreached, []);
  assert.deepEqual(after.fenced, []);
  t.diagnostic(
    JSON.stringify({
      fault: `${old.name}: every packet to and from it dropped at the bridges`,
      newPrimary: state.primary,
      silenceToNewTopologyMs: promotedAt - silencedAt,
      silenceToFirstWriteOnNewPrimaryMs: writesBackMs,
      silentForMs: heardAt - silencedAt,
      heardToHealedMs: healedAt - heardAt,
      healing: healing?.detail,
      writesAcked: summary.acked.length,
      rowsStored: rows,
      writeFailures: summary.failures,
      audit: action.detail,
      healedBy: how,
      rejoinMs,
      rejoinToWholeMs: wholeMs,
    }),
  );
  assert.ok(
    writesBackMs <= SILENT_WRITES_BACK_BOUND_MS,
    `writes came back ${writesBackMs} ms after the silence (bound ${SILENT_WRITES_BACK_BOUND_MS} ms)`,
  );
  return writesBackMs;
}
