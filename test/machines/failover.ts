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
import type { Driver } from '../../src/drivers/driver.ts';
import { killService } from '../../src/faults/inject.ts';
import { sleep, waitFor } from '../../src/lib/wait.ts';
import { summarizeWrites, type VisitorsReport, type WriteSummary } from '../../src/load/visits.ts';
import { buildModel } from '../../src/model/build.ts';
import { failoverMembers } from '../../src/model/failover.ts';
import { parseConfigText } from '../../src/model/load.ts';
import { findHost } from '../../src/model/model.ts';
import { createContext, type Context } from '../../src/steps/context.ts';
import { readDbState } from '../../src/steps/db/state.ts';
import type { DbStatus } from '../../src/steps/db/status.ts';
import { assertNoStrayRows, firstWriteAfter } from '../support/db.ts';

const VISITORS = path.resolve(import.meta.dirname, '../../src/load/visitors.ts');
const WRITERS = 4;
/** Kill → a write acknowledged by the new primary: 27.3 s measured at a load average of 20–25. */
const WRITES_BACK_BOUND_MS = 120_000;

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
  foobar(args: readonly string[], timeoutMs: number): Promise<{ exitCode: number; stdout: string }>;
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
        '0',
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
      return summarizeWrites(JSON.parse(result.stdout) as VisitorsReport);
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
  const ctx = contextOf(site);
  await armed(site, members);
  const before = await readDbState(ctx);
  const old = findHost(ctx.model, before.primary);
  assert.ok(old !== undefined);
  const prefix = `machines-kill-${Date.now()}`;
  const writers = startWriters(site, prefix);
  let killedAt: number;
  let promotedAt: number;
  let summary: WriteSummary;
  try {
    await writers.ready();
    await sleep(2000);
    killedAt = Date.now();
    await killService(ctx, old, 'mariadb');
    const next = await waitFor(
      `a primary other than ${old.name} in database.json`,
      async () => {
        const state = await readDbState(ctx);
        return state.primary === old.name ? `still ${old.name}` : undefined;
      },
      { timeoutMs: WRITES_BACK_BOUND_MS, intervalMs: 250 },
    )
      .catch(async (error: unknown) => {
        throw new Error(`${(error as Error).message}\n${await whyNot(site, old.name)}`);
      })
      .then(() => readDbState(ctx));
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
  const rows = await storedMessages(ctx, state.primary, prefix);
  const audit = auditWrites(summary.acked, rows);
  assert.deepEqual(audit.lost, [], `acknowledged writes missing or wrong on ${state.primary}`);
  assert.deepEqual(audit.duplicated, [], `writes stored twice on ${state.primary}`);
  // A write whose connection died with the primary may have committed: never more than sent.
  assertNoStrayRows(rows.length, summary, WRITERS);
  // The old primary acknowledged nothing once the new epoch was in force.
  assert.deepEqual(
    summary.acked.filter((a) => a.db === old.name && a.at > promotedAt),
    [],
    `${old.name} acknowledged writes after the new epoch`,
  );
  t.diagnostic(
    JSON.stringify({
      fault: `${old.name}: mariadb killed`,
      newPrimary: state.primary,
      killToNewTopologyMs: promotedAt - killedAt,
      killToFirstWriteOnNewPrimaryMs: writesBackMs,
      writesAcked: summary.acked.length,
      rowsStored: rows.length,
      writeFailures: summary.failures,
    }),
  );
  assert.ok(
    writesBackMs <= WRITES_BACK_BOUND_MS,
    `writes came back ${writesBackMs} ms after the kill (bound ${WRITES_BACK_BOUND_MS} ms)`,
  );
  return writesBackMs;
}
