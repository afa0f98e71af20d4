/**
 * Changes of primary: promote (the primary is gone), switchover (planned), rejoin (a former
 * primary, or a stray replica, comes back as a replica). Each reads who is who from the lab's
 * database state, acts on the servers, writes the new state and pushes it to the apps, and
 * reports what it did with timings. They take no flags an automatic detector could not give.
 */
import { performance } from 'node:perf_hooks';
import { formatGtidList, isAhead, missingFrom, parseGtidList } from '../../lib/gtid.ts';
import { waitFor } from '../../lib/wait.ts';
import { findHost, hostsWithRole, type Host } from '../../model/model.ts';
import { ensureFirewall } from '../firewall.ts';
import { fencesPrimaries } from '../../render/nftables/index.ts';
import {
  pingServer,
  queryRow,
  replicaStatus,
  runSql,
  serverState,
  sqlString,
} from '../../probes/mariadb.ts';
import type { Context } from '../context.ts';
import { ensureDaemon, killDaemon, runningPid, stopDaemon } from '../daemon.ts';
import { mariadbDaemon } from '../services.ts';
import { ensureSemiSync, replicateFrom, waitApplied, waitReplicating } from './replication.ts';
import { dbFiles, ensureAdminAccess, positionCopiedData } from './server.ts';
import {
  primaryHost,
  readDbState,
  replicasOf,
  requireDbHost,
  roleOf,
  writeDbState,
  type DbEvent,
  type DbState,
} from './state.ts';
import { intoRotation, outOfRotation } from '../rotation.ts';
import { pushAppDbSettings, pushTopologyToApps } from './topology.ts';

export interface ChangeReport {
  readonly action: 'promote' | 'switchover' | 'rejoin';
  /** The primary afterwards. */
  readonly primary: string;
  readonly previous: string;
  readonly host: string;
  readonly steps: readonly { readonly what: string; readonly ms: number }[];
  readonly totalMs: number;
  /** Switchover: from the old primary turning read-only to the apps writing to the new one. */
  readonly writePauseMs?: number;
  /** Where the new primary took over, or where a rejoined server started replicating. */
  readonly gtid: string;
  readonly notes: readonly string[];
}

/** A change that foobar refuses: nothing was changed, and the message says what to do. */
export class ChangeRefused extends Error {
  override name = 'ChangeRefused';
}

class Timeline {
  readonly steps: { what: string; ms: number }[] = [];
  readonly started = performance.now();
  async step<T>(what: string, work: () => Promise<T>): Promise<T> {
    const since = performance.now();
    const result = await work();
    this.steps.push({ what, ms: Math.round(performance.now() - since) });
    return result;
  }
  elapsed(): number {
    return Math.round(performance.now() - this.started);
  }
}

async function answers(ctx: Context, host: string): Promise<boolean> {
  return (await pingServer(ctx, host)) === undefined;
}

/** How long promote tries to kill the old primary before it goes on without: it may be unreachable. */
const FENCE_KILL_TIMEOUT_MS = 1500;

/**
 * How long a change of primary waits for one host's firewall or app settings before it goes on
 * without that host. A silent machine never answers: over SSH its master connection is found dead
 * only after the keepalives (15 s), and a new one gives up after ConnectTimeout (10 s). An
 * answering machine takes well under a second (a file compared and written, one `nft -f`), a
 * few at a load average of 20.
 */
export const REACH_TIMEOUT_MS = 5000;

/**
 * `work` on `host` within `ms`: undefined once done, else why not (it failed, or had not finished:
 * it then goes on in the background and ends with the connection).
 */
export async function within(
  host: string,
  what: string,
  work: () => Promise<unknown>,
  ms = REACH_TIMEOUT_MS,
): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      resolve(`${host}: ${what}: no answer within ${ms} ms`);
    }, ms);
  });
  const done = work().then(
    () => undefined,
    (error: unknown) => `${host}: ${what}: ${(error as Error).message.split('\n')[0] ?? ''}`,
  );
  return Promise.race([done, late]).finally(() => {
    clearTimeout(timer);
  });
}

/** Kills a server outright if it runs: a primary that was replaced must never take a write. */
async function kill(ctx: Context, host: Host, state: DbState): Promise<string> {
  const daemon = mariadbDaemon(ctx, host, state);
  // Before the kill: no restart policy (nor a reboot) may bring a replaced primary back.
  await ctx.platform.supervisor.fence(ctx, daemon);
  const pid = await killDaemon(ctx, daemon);
  if (pid === undefined) return `${host.name} was not running`;
  await waitFor(
    `${host.name}: mariadb (pid ${pid}) to die`,
    async () => ((await runningPid(ctx, daemon)) === undefined ? undefined : 'still running'),
    { timeoutMs: 5000 },
  );
  return `${host.name} killed (pid ${pid})`;
}

/**
 * Kills the old primary if it runs, off the way to writes: the firewalls are the fence, the kill
 * is for a primary that can be reached. Resolves to how that went, or to the fact that it did
 * not within FENCE_KILL_TIMEOUT_MS (a silent host cannot be reached; the kill finishes in the
 * background, or never).
 */
function killWithin(
  ctx: Context,
  host: Host,
  state: DbState,
): Promise<{ readonly note: string; readonly killed: boolean }> {
  const killing = kill(ctx, host, state).then(
    (note) => ({ note, killed: true }),
    (error: unknown) => ({
      note: `${host.name}: kill failed (${(error as Error).message.split('\n')[0] ?? ''})`,
      killed: false,
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ note: string; killed: boolean }>((resolve) => {
    timer = setTimeout(() => {
      resolve({
        note: `${host.name} could not be killed within ${FENCE_KILL_TIMEOUT_MS} ms: fenced by the other servers' firewalls alone`,
        killed: false,
      });
    }, FENCE_KILL_TIMEOUT_MS);
  });
  return Promise.race([killing, late]).finally(() => {
    clearTimeout(timer);
  });
}

/**
 * The web servers refuse `fenced`'s fenced primaries, each within REACH_TIMEOUT_MS. One that does
 * not answer in time (a silent machine, which may come back any time with its app still writing
 * to the old primary) is taken out of every load balancer's rotation instead: no visitor reaches
 * it until healUnreached has told it. Resolves to those web servers and what was said of them.
 */
export async function fenceWebServers(
  ctx: Context,
  fenced: DbState,
): Promise<{ readonly unreached: string[]; readonly notes: string[] }> {
  const webs = fencingHosts(ctx).filter((h) => h.roles.includes('web'));
  const refused = await Promise.all(
    webs.map((web) =>
      within(web.name, 'firewall', () => ensureFirewall(ctx, web, fenced, { fast: true })),
    ),
  );
  const unreached = webs.filter((_, i) => refused[i] !== undefined).map((w) => w.name);
  const notes = await Promise.all(
    unreached.map(async (web) => {
      const refusedBy = await outOfRotation(ctx, web);
      const why = refused[webs.findIndex((w) => w.name === web)] ?? `${web}: no answer`;
      return refusedBy.length === 0
        ? `${why}: out of every load balancer's rotation until it answers again (the failover managers then heal it, as foobar up or foobar db rejoin would)`
        : `${why}: out of rotation except at ${refusedBy.join('; ')}`;
    }),
  );
  return { unreached, notes };
}

/** One host owed by a change of primary, healed (see healUnreached): what was done on it. */
async function healHost(ctx: Context, state: DbState, name: string): Promise<string> {
  const host = findHost(ctx.model, name);
  if (host === undefined) return `${name} (not in foobar.yaml any more)`;
  const done: string[] = [];
  if (host.roles.includes('db') && roleOf(state, name) === 'fenced')
    done.push(await kill(ctx, host, state));
  if (fencesPrimaries(host)) done.push(`firewall ${await ensureFirewall(ctx, host, state)}`);
  if (host.roles.includes('web')) {
    await pushAppDbSettings(ctx, name, state);
    await intoRotation(ctx, name);
    done.push('app told the primary, back in rotation');
  }
  return `${name}: ${done.join(', ')}`;
}

export interface Healing {
  /** What was done on each host healed. */
  readonly healed: readonly string[];
  /** The hosts still owed, each with why. */
  readonly left: readonly { readonly host: string; readonly why: string }[];
}

/**
 * Finishes what a change of primary could not do on the hosts it could not reach (database.json's
 * `unreached`), on those that answer now: a fenced former primary's server killed and its unit
 * masked, the firewall refusing the fenced primaries, the app told the current primary, and only
 * then the web server back in the load balancers' rotation. Each host on its own: one healed
 * leaves database.json's list even if another fails. With `onlyAnswering`, a host that does not
 * answer a no-op command within REACH_TIMEOUT_MS is left owed without trying more (the failover
 * managers ask every few seconds, and must not wait on a silent machine's SSH timeouts).
 */
export async function healOwed(
  ctx: Context,
  options: { readonly onlyAnswering?: boolean } = {},
): Promise<Healing> {
  const state = await readDbState(ctx);
  const owed = state.unreached ?? [];
  const outcomes = await Promise.all(
    owed.map(async (name): Promise<{ host: string; healed?: string; why?: string }> => {
      if (options.onlyAnswering === true && findHost(ctx.model, name) !== undefined) {
        const silent = await within(name, 'no-op command', () =>
          ctx.driver.exec(name, { argv: ['true'], timeoutMs: REACH_TIMEOUT_MS }),
        );
        if (silent !== undefined) return { host: name, why: silent };
      }
      try {
        return { host: name, healed: await healHost(ctx, state, name) };
      } catch (error) {
        return { host: name, why: (error as Error).message.split('\n')[0] ?? '' };
      }
    }),
  );
  const healed = outcomes.flatMap((o) => (o.healed === undefined ? [] : [o]));
  if (healed.length > 0) {
    // Only the hosts healed here: a change of primary meanwhile holds the lock, so none happened.
    const now = await readDbState(ctx);
    await writeDbState(ctx, {
      ...now,
      unreached: (now.unreached ?? []).filter((n) => !healed.some((h) => h.host === n)),
    });
  }
  return {
    healed: healed.map((h) => h.healed ?? ''),
    left: outcomes.flatMap((o) => (o.why === undefined ? [] : [{ host: o.host, why: o.why }])),
  };
}

/** The hosts a heal left owed, each with why, for a message. */
export function describeLeft(left: Healing['left']): string {
  return left.map((l) => `${l.host} (${l.why})`).join('; ');
}

/**
 * healOwed for a command (up, rejoin): resolves to what it did ('up to date' when nothing was
 * owed); a host that still cannot be healed fails it, naming the host and the command, after the
 * others were healed and recorded.
 */
export async function healUnreached(ctx: Context): Promise<string> {
  const { healed, left } = await healOwed(ctx);
  if (left.length > 0)
    throw new Error(
      `${healed.length > 0 ? `healed ${healed.join('; ')}; ` : ''}still owed by the last change of primary: ${describeLeft(left)}`,
    );
  return healed.length === 0 ? 'up to date' : `healed ${healed.join('; ')}`;
}

/** The hosts whose firewalls refuse fenced primaries. */
function fencingHosts(ctx: Context): Host[] {
  return ctx.model.hosts.filter(fencesPrimaries);
}

interface Received {
  readonly host: Host;
  /** Everything it fetched from the primary, all of it applied now. */
  readonly gtid: string;
}

/**
 * Ends the replica's I/O thread at once. STOP SLAVE alone signals the thread and waits up to 2 s
 * for it: a thread blocked reading from a silent primary does not wake (measured: 2.1–2.4 s on
 * every try). KILL shuts its socket down, so it returns at once, and a killed I/O thread ends
 * without reconnecting (MariaDB's io_slave_killed() checks the thread's kill flag before any
 * retry); the STOP in the same session keeps it stopped.
 */
const KILL_IO_THREAD = `DELIMITER //
BEGIN NOT ATOMIC
  DECLARE io BIGINT DEFAULT NULL;
  SELECT ID INTO io FROM information_schema.PROCESSLIST WHERE COMMAND = 'Slave_IO' LIMIT 1;
  IF io IS NOT NULL THEN KILL io; END IF;
END//
DELIMITER ;
STOP SLAVE IO_THREAD;`;

/** The SQL that makes a replica the primary (see becomePrimary), ending with its GTID position. */
function becomePrimarySql(withReplicas: boolean): string {
  return `STOP SLAVE;
RESET SLAVE ALL;
SET GLOBAL rpl_semi_sync_master_enabled = ${withReplicas ? 'ON' : 'OFF'};
SET GLOBAL read_only = OFF;
SELECT @@global.gtid_binlog_pos AS gtid;`;
}

/** SQL that waits until `gtid` is applied, and fails (ending the script) if it is not in time. */
function appliedOrFail(gtid: string, timeoutSeconds: number): string {
  if (gtid === '') return '';
  return `DELIMITER //
BEGIN NOT ATOMIC
  IF MASTER_GTID_WAIT(${sqlString(gtid)}, ${timeoutSeconds}) <> 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'not applied in time';
  END IF;
END//
DELIMITER ;`;
}

/** How long a replica may take to apply what it received before a promotion gives up. */
const DRAIN_TIMEOUT_SECONDS = 60;

/**
 * A replica stops fetching from the (dead) primary and applies everything it received. With
 * `thenPrimary` (the only replica, so nothing to compare), it becomes the primary in the same
 * session as the wait: one process less on the way to writes. Resolves to what it received and,
 * then, its own GTID position as a primary.
 */
async function drainReplica(
  ctx: Context,
  host: Host,
  options: { readonly thenPrimary?: boolean } = {},
): Promise<Received & { readonly primaryGtid?: string }> {
  const status = await replicaStatus(ctx, host.name, KILL_IO_THREAD);
  const gtid =
    status?.gtidIoPos !== undefined && status.gtidIoPos !== ''
      ? status.gtidIoPos
      : (await serverState(ctx, host.name)).gtidSlavePos;
  const late = (): Error =>
    new Error(
      `${host.name} did not apply what it received (up to ${gtid}) within ${DRAIN_TIMEOUT_SECONDS} s` +
        (status?.lastSqlError ? `: ${status.lastSqlError}` : ''),
    );
  if (options.thenPrimary === true) {
    let rows: Awaited<ReturnType<typeof runSql>>;
    try {
      rows = await runSql(
        ctx,
        host.name,
        `${appliedOrFail(gtid, DRAIN_TIMEOUT_SECONDS)}\n${becomePrimarySql(false)}`,
        (DRAIN_TIMEOUT_SECONDS + 10) * 1000,
      );
    } catch (error) {
      if ((error as Error).message.includes('not applied in time')) throw late();
      throw error;
    }
    return { host, gtid, primaryGtid: rows.at(-1)?.[0]?.gtid ?? '' };
  }
  if (!(await waitApplied(ctx, host.name, gtid, DRAIN_TIMEOUT_SECONDS))) throw late();
  return { host, gtid };
}

/**
 * Replicates from no one, semi-sync on if replicas are attached (else every commit would wait),
 * writable. Resolves to its GTID position then, read in the same session (one process, not two).
 */
async function becomePrimary(ctx: Context, host: string, withReplicas: boolean): Promise<string> {
  return (await queryRow(ctx, host, becomePrimarySql(withReplicas))).gtid ?? '';
}

function event(action: DbEvent['action'], host: string, gtid: string, from?: string): DbEvent {
  return {
    at: new Date().toISOString(),
    action,
    host,
    gtid,
    ...(from === undefined ? {} : { from }),
  };
}

/** The state once `host` has taken over from `from`: a promoted-over primary is fenced. */
function withNewPrimary(
  state: DbState,
  action: 'promote' | 'switchover',
  host: string,
  from: string,
  gtid: string,
): DbState {
  return {
    ...(state.unreached === undefined ? {} : { unreached: state.unreached }),
    primary: host,
    fenced: action === 'promote' ? [...new Set([...state.fenced, from])] : state.fenced,
    epoch: state.epoch + 1,
    history: [...state.history, event(action, host, gtid, from)],
  };
}

/** Writes the new state, tells every app, and reports. */
async function finish(
  ctx: Context,
  t: Timeline,
  next: DbState,
  report: Omit<ChangeReport, 'steps' | 'totalMs'>,
  /** The fenced servers the firewalls refuse already. */
  fencedBefore: readonly string[],
  /** A promotion: a web server not told within REACH_TIMEOUT_MS is left out (see below). */
  bounded = false,
): Promise<ChangeReport> {
  const notes: string[] = [];
  await t.step('apps told', async () => {
    await writeDbState(ctx, next);
    // Each web server within REACH_TIMEOUT_MS: one that is not told in time is owed the news and
    // taken out of the load balancers' rotation (it would write to the old primary).
    const webs = hostsWithRole(ctx.model, 'web');
    if (!bounded) await pushTopologyToApps(ctx, next);
    const told = !bounded
      ? []
      : await Promise.all(
          webs.map((web) =>
            (next.unreached ?? []).includes(web.name)
              ? Promise.resolve(undefined)
              : within(web.name, 'app settings', () => pushAppDbSettings(ctx, web.name, next)),
          ),
        );
    const late = webs.filter((_, i) => told[i] !== undefined).map((w) => w.name);
    if (late.length > 0) {
      await writeDbState(ctx, { ...next, unreached: [...(next.unreached ?? []), ...late] });
      for (const web of late) {
        const refusedBy = await outOfRotation(ctx, web);
        notes.push(
          `${told[webs.findIndex((w) => w.name === web)] ?? web}: out of rotation${refusedBy.length === 0 ? '' : ` except at ${refusedBy.join('; ')}`}`,
        );
      }
    }
    // A rejoined server is reachable from the apps and its peers again. A database server that
    // cannot be reached now keeps refusing it until the next `foobar up`: the apps must not wait.
    if (fencedBefore.join() !== next.fenced.join()) {
      const hosts = fencingHosts(ctx);
      const apply = (host: Host): Promise<string> =>
        ensureFirewall(ctx, host, next, { fast: true });
      await Promise.all([
        Promise.all(hosts.filter((h) => h.roles.includes('web')).map(apply)),
        Promise.allSettled(hosts.filter((h) => !h.roles.includes('web')).map(apply)),
      ]);
    }
  });
  return { ...report, notes: [...report.notes, ...notes], steps: t.steps, totalMs: t.elapsed() };
}

/**
 * The units of the servers whose role changed, rewritten for their new role without a restart
 * (machines; in the lab, the supervisor's record of each server's start). A MariaDB unit names
 * its start role (a replica's crash recovery drops what no replica acknowledged), and a promoted
 * server's unit still naming the replica's made the next `foobar up` restart the new primary.
 * Fenced servers keep theirs, masked; one not reached in time keeps its old unit, and the next
 * `up` restarts it onto the new one: the notes say so.
 */
export async function unitsFollowRoles(
  ctx: Context,
  before: DbState,
  after: DbState,
): Promise<string[]> {
  const changed = hostsWithRole(ctx.model, 'db').filter((host) => {
    const now = roleOf(after, host.name);
    return (
      (now === 'primary' || now === 'replica') &&
      now !== roleOf(before, host.name) &&
      !(after.unreached ?? []).includes(host.name)
    );
  });
  const late = await Promise.all(
    changed.map((host) =>
      within(host.name, `its MariaDB unit for the ${roleOf(after, host.name)} role`, () =>
        ctx.platform.supervisor.install(ctx, mariadbDaemon(ctx, host, after)),
      ),
    ),
  );
  return late.flatMap((why) =>
    why === undefined ? [] : [`${why} (the next foobar up restarts it onto its new unit)`],
  );
}

/**
 * A promotion that found nobody to take over undoes its fence: the old primary may live (a
 * partition, a false alarm), and fenced it would take no write until a person acts. The firewalls
 * go back to database.json's state and the replicas fetch from it again. Says how that went.
 */
async function liftFence(ctx: Context, state: DbState, replicas: readonly Host[]): Promise<string> {
  const [fences, fetching] = await Promise.all([
    Promise.allSettled(
      fencingHosts(ctx).map((host) => ensureFirewall(ctx, host, state, { fast: true })),
    ),
    Promise.allSettled(replicas.map((replica) => runSql(ctx, replica.name, 'START SLAVE;'))),
  ]);
  const failed = [
    ...fencingHosts(ctx).flatMap((h, i) =>
      fences[i]?.status === 'rejected' ? [`${h.name}'s firewall`] : [],
    ),
    ...replicas.flatMap((r, i) =>
      fetching[i]?.status === 'rejected' ? [`${r.name}'s replication`] : [],
    ),
  ];
  const primary = state.primary;
  return failed.length === 0
    ? `nothing changed: ${primary} is let back in and its replicas fetch from it again`
    : `${primary} is let back in, but not by ${failed.join(', ')}: foobar up repairs it`;
}

/**
 * The primary is gone: `candidate` becomes the primary without losing an acknowledged write.
 * Every reachable replica first applies all it received; the candidate catches up from whichever
 * received most (with semi-sync, the acknowledged commits are on at least one of them); the old
 * primary is fenced; the other replicas follow the candidate; the apps are told.
 */
export async function promoteReplica(
  ctx: Context,
  candidateName: string,
  options: { force?: boolean } = {},
): Promise<ChangeReport> {
  const t = new Timeline();
  const state = await readDbState(ctx);
  const candidate = requireDbHost(ctx, candidateName);
  const old = primaryHost(ctx, state);
  const role = roleOf(state, candidate.name);
  if (role === 'primary') throw new ChangeRefused(`${candidate.name} is already the primary`);
  if (role === 'fenced') {
    throw new ChangeRefused(
      `${candidate.name} is fenced (a former primary): \`foobar db rejoin ${candidate.name}\` first`,
    );
  }
  const replicas = replicasOf(ctx, state);
  const forced = options.force === true;
  // Asked first only when not forced: a refusal must change nothing. Forced (the failover
  // manager, or --force), on the way to writes each round of processes counts: nobody is asked
  // first, a replica that does not answer fails its drain below, and the old primary's answer
  // would change nothing (a silent host would hold the promotion up for a timeout).
  if (!forced) {
    const [oldAnswers, alive] = await Promise.all([
      answers(ctx, old.name),
      Promise.all(replicas.map((r) => answers(ctx, r.name))),
    ]);
    if (!alive[replicas.findIndex((r) => r.name === candidate.name)])
      throw new ChangeRefused(`${candidate.name} does not answer: promote another replica`);
    if (oldAnswers) {
      throw new ChangeRefused(
        `${old.name}, the primary, still answers: promote is for a primary that is gone. ` +
          `For a planned change without losing a write: foobar db switchover --to ${candidate.name}. ` +
          'To replace it anyway (it is killed and fenced): add --force',
      );
    }
  }
  const notes: string[] = [];
  const fenced: DbState = { ...state, fenced: [...new Set([...state.fenced, old.name])] };
  /** Hosts whose part could not be done in time: recorded in database.json, healed later. */
  const unreached = new Set(state.unreached ?? []);
  // The only replica: nothing to compare, so it becomes the primary as soon as it has applied
  // all it received (the apps write to it only once they are told, after the fences are in).
  const alone = replicas.length === 1;
  // The old primary is fenced before anyone else takes writes, without needing its help: the
  // firewalls of the web servers and of the replicas refuse it (nobody can write to it or fetch
  // from it any more). Each replica's fence goes in beside its drain: the drain kills and stops
  // the I/O thread in one session (a killed I/O thread does not reconnect), so what it received
  // is final without waiting for the firewall.
  const refuse = (host: Host): Promise<string> => ensureFirewall(ctx, host, fenced, { fast: true });
  const drains = await t.step(
    alone
      ? `fence ${old.name}, ${candidate.name} applies all it received and takes writes`
      : `fence ${old.name}, replicas apply all they received`,
    async () => {
      // The web servers' fences first: an old primary that still answers (--force) takes writes
      // until they are in, and once the replicas stop receiving, its semi-sync falls back to
      // asynchronous after its timeout and acknowledges commits no replica has (a forced promote
      // of a live primary lost 28 acknowledged writes that way). A web server that does not
      // answer in time is taken out of the load balancers' rotation instead (fenceWebServers).
      const webs = await fenceWebServers(ctx, fenced);
      for (const web of webs.unreached) unreached.add(web);
      notes.push(...webs.notes);
      return Promise.allSettled(
        replicas.map(async (replica) => {
          const [, result] = await Promise.all([
            refuse(replica),
            drainReplica(ctx, replica, { thenPrimary: alone }),
          ]);
          return result;
        }),
      );
    },
  );
  const received = drains.flatMap((d) => (d.status === 'fulfilled' ? [d.value] : []));
  const mine = received.find((r) => r.host.name === candidate.name);
  if (mine === undefined) {
    const failure = drains[replicas.findIndex((r) => r.name === candidate.name)];
    const why = failure?.status === 'rejected' ? (failure.reason as Error).message : 'no answer';
    const undone = await liftFence(ctx, state, replicas);
    throw new Error(`${candidate.name} cannot take over: ${why.split('\n')[0] ?? ''}; ${undone}`);
  }
  drains.forEach((d, i) => {
    const replica = replicas[i];
    if (d.status === 'rejected' && replica !== undefined)
      notes.push(
        `${replica.name} does not answer: left as it is (foobar db rejoin ${replica.name} later)`,
      );
  });
  const reachable = received.map((r) => r.host);
  notes.push(`web servers and replicas refuse ${old.name}`);
  // Database servers that do not answer (or hold no role) refuse it too once they can be
  // reached; never waited for.
  const asked = new Set([old.name, ...reachable.map((r) => r.name)]);
  for (const other of fencingHosts(ctx).filter((h) => h.roles.includes('db') && !asked.has(h.name)))
    void refuse(other).catch(() => undefined);
  const best = received.reduce<Received | undefined>(
    (a, b) => (a === undefined || isAhead(parseGtidList(b.gtid), parseGtidList(a.gtid)) ? b : a),
    undefined,
  );
  if (
    best !== undefined &&
    best !== mine &&
    isAhead(parseGtidList(best.gtid), parseGtidList(mine.gtid))
  ) {
    await t.step(`${candidate.name} catches up from ${best.host.name}`, async () => {
      await replicateFrom(ctx, candidate.name, best.host);
      if (!(await waitApplied(ctx, candidate.name, best.gtid, DRAIN_TIMEOUT_SECONDS)))
        throw new Error(
          `${candidate.name} did not catch up with ${best.host.name} (${best.gtid}) within ${DRAIN_TIMEOUT_SECONDS} s`,
        );
    });
    notes.push(`${candidate.name} caught up from ${best.host.name} to ${best.gtid}`);
  }
  const others = reachable.filter((r) => r.name !== candidate.name);
  // Together: the apps write to the candidate only once they are told, after this step.
  const gtid =
    mine.primaryGtid ??
    (await t.step(`${candidate.name} becomes the primary`, async () => {
      const [position] = await Promise.all([
        becomePrimary(ctx, candidate.name, others.length > 0),
        ...others.map((r) => replicateFrom(ctx, r.name, candidate)),
      ]);
      return position;
    }));
  const report = await finish(
    ctx,
    t,
    {
      ...withNewPrimary(state, 'promote', candidate.name, old.name, gtid),
      unreached: [...unreached],
    },
    {
      action: 'promote',
      primary: candidate.name,
      previous: old.name,
      host: candidate.name,
      gtid,
      notes,
    },
    fenced.fenced,
    true,
  );
  // Killed once the apps write to the new primary: the firewalls are the fence, and on the way
  // to writes its processes (pid file, children, kill, waiting for the exit) would only compete
  // for the CPU with the fence and the drain. The report says how the kill went; a kill that
  // could not be done is owed (healUnreached), as database.json and db status say.
  const [killing, units] = await Promise.all([
    killWithin(ctx, old, state),
    readDbState(ctx).then((next) => unitsFollowRoles(ctx, state, next)),
  ]);
  const after = await readDbState(ctx);
  if (!killing.killed && !(after.unreached ?? []).includes(old.name))
    await writeDbState(ctx, { ...after, unreached: [...(after.unreached ?? []), old.name] });
  return { ...report, notes: [...report.notes, killing.note, ...units] };
}

/** How far behind a replica may be for a switchover to start: writes pause while it catches up. */
const SWITCHOVER_MAX_LAG_SECONDS = 5;

/**
 * A planned change of primary. The old primary turns read-only (the apps retry refused writes),
 * the target applies everything the old primary has, becomes the primary with the old one and
 * every other replica replicating from it, and the apps are told. No acknowledged write is lost.
 */
export async function switchover(ctx: Context, targetName?: string): Promise<ChangeReport> {
  const t = new Timeline();
  const state = await readDbState(ctx);
  const old = primaryHost(ctx, state);
  const replicas = replicasOf(ctx, state);
  if (replicas.length === 0) throw new ChangeRefused('there is no replica to switch over to');
  const target = targetName === undefined ? undefined : requireDbHost(ctx, targetName);
  if (target !== undefined && roleOf(state, target.name) !== 'replica')
    throw new ChangeRefused(
      `${target.name} is not a replica (it is ${roleOf(state, target.name)})`,
    );
  if (!(await answers(ctx, old.name))) {
    throw new ChangeRefused(
      `${old.name}, the primary, does not answer: use foobar db promote ${target?.name ?? replicas[0]?.name ?? 'HOST'}`,
    );
  }
  const candidates = target === undefined ? replicas : [target];
  const healthy: { host: Host; lag: number }[] = [];
  const problems: string[] = [];
  for (const host of candidates) {
    const status = (await answers(ctx, host.name))
      ? await replicaStatus(ctx, host.name)
      : undefined;
    if (status?.ioRunning !== true || !status.sqlRunning)
      problems.push(`${host.name} is not replicating`);
    else if ((status.lagSeconds ?? Infinity) > SWITCHOVER_MAX_LAG_SECONDS)
      problems.push(`${host.name} is ${status.lagSeconds ?? '?'} s behind`);
    else healthy.push({ host, lag: status.lagSeconds ?? 0 });
  }
  const chosen = healthy.sort((a, b) => a.lag - b.lag)[0]?.host;
  if (chosen === undefined)
    throw new ChangeRefused(`no replica is ready to take over: ${problems.join('; ')}`);
  const others = replicas.filter((r) => r.name !== chosen.name);

  const pauseStarted = performance.now();
  const [[frozen] = []] = await t.step(`${old.name} read-only`, () =>
    runSql(ctx, old.name, 'SET GLOBAL read_only = ON;\nSELECT @@gtid_binlog_pos AS gtid;'),
  );
  const gtid = frozen?.gtid ?? '';
  // The target stops replicating in the same call once it has everything (writes are paused).
  const [[waited] = []] = await t.step(`${chosen.name} applies up to ${gtid}`, () =>
    runSql(
      ctx,
      chosen.name,
      `SELECT MASTER_GTID_WAIT(${sqlString(gtid)}, 10) AS waited;\nSTOP SLAVE;\nRESET SLAVE ALL;`,
      30_000,
    ),
  );
  if (waited?.waited !== '0') {
    await replicateFrom(ctx, chosen.name, old);
    await runSql(ctx, old.name, 'SET GLOBAL read_only = OFF;');
    throw new ChangeRefused(
      `${chosen.name} did not catch up with ${old.name} within 10 s: nothing changed`,
    );
  }
  await t.step(`${chosen.name} becomes the primary`, async () => {
    await Promise.all([
      replicateFrom(ctx, old.name, chosen, { fromOwnHistory: true }),
      ...others.map((r) => replicateFrom(ctx, r.name, chosen)),
    ]);
    await becomePrimary(ctx, chosen.name, true);
  });
  const done = await finish(
    ctx,
    t,
    withNewPrimary(state, 'switchover', chosen.name, old.name, gtid),
    {
      action: 'switchover',
      primary: chosen.name,
      previous: old.name,
      host: chosen.name,
      gtid,
      notes: [],
    },
    state.fenced,
  );
  const writePauseMs = Math.round(performance.now() - pauseStarted);
  const units = await unitsFollowRoles(ctx, state, await readDbState(ctx));
  return { ...done, notes: [...done.notes, ...units], writePauseMs };
}

/**
 * A server comes back as a replica of the current primary: started if it is not running (as a
 * replica, so its crash recovery drops commits no replica acknowledged), checked for
 * transactions the primary lacks (refused then: nothing is changed), and replicating from its own
 * position. With `reseed`, its data is replaced by a fresh copy of the primary's instead.
 */
export async function rejoin(
  ctx: Context,
  name: string,
  options: { reseed?: boolean } = {},
): Promise<ChangeReport> {
  const t = new Timeline();
  const before = await readDbState(ctx);
  const host = requireDbHost(ctx, name);
  const primary = primaryHost(ctx, before);
  if (host.name === primary.name) throw new ChangeRefused(`${host.name} is the primary`);
  if (!(await answers(ctx, primary.name)))
    throw new ChangeRefused(
      `${primary.name}, the primary, does not answer: promote a replica first`,
    );
  // What the last promotion could not do first: a former primary that was silent then may still
  // run as a writable primary (it is killed, then started below as a replica).
  const owed = before.unreached ?? [];
  if (owed.length > 0) await t.step(`${owed.join(', ')} reached`, () => healUnreached(ctx));
  const state = owed.length > 0 ? await readDbState(ctx) : before;
  // A server restored to an earlier point (db restore --to) comes back as a fresh copy: its data
  // is the archive's, not a branch of the primary's history worth replicating onto.
  const wasRestored = roleOf(state, host.name) === 'restored';
  const reseed = options.reseed === true || wasRestored;
  const asReplica: DbState = {
    ...state,
    fenced: state.fenced.filter((f) => f !== host.name),
    ...(state.restored === undefined
      ? {}
      : { restored: state.restored.filter((r) => r.host !== host.name) }),
  };
  const daemon = mariadbDaemon(ctx, host, asReplica);
  if (reseed) {
    await t.step(`${host.name} gets a copy of ${primary.name}'s data`, async () => {
      await stopDaemon(ctx, daemon);
      await ctx.driver.remove(host.name, dbFiles(ctx, host.name).origin);
      await ensureDaemon(ctx, daemon);
      await ensureAdminAccess(ctx, host.name);
      await positionCopiedData(ctx, host.name);
      await replicateFrom(ctx, host.name, primary);
    });
  } else {
    await t.step(`${host.name} running`, async () => {
      await ensureDaemon(ctx, daemon);
      await ensureAdminAccess(ctx, host.name);
    });
    const [mine, theirs] = await Promise.all([
      serverState(ctx, host.name),
      serverState(ctx, primary.name),
    ]);
    const extra = missingFrom(
      parseGtidList(mine.gtidBinlogState),
      parseGtidList(theirs.gtidBinlogState),
    );
    if (extra.length > 0) {
      throw new ChangeRefused(
        `${host.name} has transactions that ${primary.name} lacks (${formatGtidList(extra)}): as a replica ` +
          `it would keep them and diverge. Nothing was changed; it stays out of service. To discard its ` +
          `data and copy ${primary.name}'s instead: foobar db rejoin ${host.name} --reseed`,
      );
    }
    await t.step(`${host.name} replicates from ${primary.name}`, () =>
      replicateFrom(ctx, host.name, primary, { fromOwnHistory: true }),
    );
  }
  const target = (await serverState(ctx, primary.name)).gtidBinlogPos;
  await t.step(`${host.name} catches up to ${target}`, async () => {
    if (!(await waitApplied(ctx, host.name, target, 60)))
      throw new Error(`${host.name} did not catch up with ${primary.name} (${target}) within 60 s`);
    await waitReplicating(ctx, host.name, primary.name);
  });
  await t.step(`semi-sync on ${primary.name}`, () => ensureSemiSync(ctx, primary.name));
  const next: DbState = {
    ...asReplica,
    history: [...state.history, event('rejoin', host.name, target)],
  };
  return finish(
    ctx,
    t,
    next,
    {
      action: 'rejoin',
      primary: primary.name,
      previous: primary.name,
      host: host.name,
      gtid: target,
      notes: reseed
        ? [
            `${host.name}'s data was replaced by a copy of ${primary.name}'s${wasRestored ? ' (it was a restored copy)' : ''}`,
          ]
        : [],
    },
    state.fenced,
  );
}
