/**
 * `foobar db restore --at POINT --to HOST`: a point-in-time recovery onto a database server of
 * the site. The point is first restored onto the backup host's scratch server (restoreToScratch,
 * the same as without --to); its data is then streamed from there into HOST (mariadb-backup on
 * the backup host, mbstream on HOST, through driver.pipe as a replica's seed is: never a file on
 * this machine), prepared beside HOST's data directory while HOST still runs, and swapped in: the
 * old data directory is renamed aside with a timestamp, never deleted.
 *
 * A replica becomes a server AT the recovered point, replicating from no one, recorded as
 * `restored` in database.json (db status shows it; no backup, promotion or switchover uses it)
 * until `foobar db rejoin HOST` makes it a replica again. The live primary (only with --force: a
 * disaster, the whole site back to the point) is restored with automatic failover paused, opened
 * for writes, and every replica is then reseeded from it.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mariadb } from '../../commands/mariadb.ts';
import { formatBytes } from '../../drivers/driver.ts';
import { formatGtidList, parseGtidList, stateAtPosition } from '../../lib/gtid.ts';
import { backupHost } from '../../model/backup.ts';
import { failoverKeys, failoverMembers } from '../../model/failover.ts';
import type { Host } from '../../model/model.ts';
import { runSql, serverState } from '../../probes/mariadb.ts';
import { appendAudit } from '../audit.ts';
import { restoreToScratch, scratchFiles, type RestoreReport } from '../backup.ts';
import type { Context } from '../context.ts';
import { ensureDaemon, stopDaemon } from '../daemon.ts';
import { labEtcd, pauseFailover } from '../failover.ts';
import { mariadbDaemon } from '../services.ts';
import { ChangeRefused, rejoin } from './changes.ts';
import { pushTopologyToApps } from './topology.ts';
import {
  dbFiles,
  ensureAdminAccess,
  positionCopiedData,
  receiveCopy,
  replaceDataDir,
} from './server.ts';
import {
  readDbState,
  requireDbHost,
  replicasOf,
  roleOf,
  writeDbState,
  type DbState,
  type RestoredServer,
} from './state.ts';

export interface HostRestoreOptions {
  /** `time=ISO` or `gtid=LIST`. */
  readonly target: string;
  readonly to: string;
  /** Allows the live primary as the target (the whole site goes back to the point). */
  readonly force?: boolean;
  /** A line that replaces the previous one: how a long step is getting on. */
  readonly progress: (line: string) => void;
  /** A line that stays: each step as it starts and ends, with the time of day. */
  readonly log: (line: string) => void;
}

export interface HostRestoreStep {
  readonly step: string;
  /** When it started (ISO). */
  readonly at: string;
  readonly seconds: number;
}

export interface HostRestoreReport {
  readonly to: string;
  readonly point: string;
  /** The target was the live primary (--force): the replicas were reseeded from it. */
  readonly primary: boolean;
  /** The target's GTID position once restored. */
  readonly gtid: string;
  /** The target's MariaDB socket, for the mariadb client on it. */
  readonly socket: string;
  /** Where the target's data directory from before the restore is now (null: it had none). */
  readonly aside: string | null;
  /** The restore onto the backup host's scratch server, which the copy was taken from. */
  readonly scratch: RestoreReport;
  readonly reseeded: readonly string[];
  readonly steps: readonly HostRestoreStep[];
  /**
   * RTO: from the start to the target answering with the restored data (the primary: open for
   * writes again).
   */
  readonly seconds: number;
  /** The whole command, reseeds included. */
  readonly totalSeconds: number;
  readonly notes: readonly string[];
}

/** `HH:MM:SS` (UTC) of a date. */
function clock(date: Date): string {
  return date.toISOString().slice(11, 19);
}

/** What a restore onto `to` would do, or why it is refused (nothing changed then). */
export function checkRestoreTarget(
  ctx: Context,
  state: DbState,
  to: string,
  force: boolean,
): { readonly host: Host; readonly primary: boolean } {
  const host = requireDbHost(ctx, to);
  const role = roleOf(state, host.name);
  if (role === 'fenced')
    throw new ChangeRefused(
      `${host.name} is fenced (a former primary): restore onto a replica, or \`foobar db rejoin ${host.name}\` first`,
    );
  if (role === 'primary' && !force)
    throw new ChangeRefused(
      `${host.name} is the live primary: a restore would replace the site's data. Restore to the scratch server (no --to) or onto a replica, or add --force (every replica is then reseeded from it)`,
    );
  return { host, primary: role === 'primary' };
}

/** The GTID history a copy of the restored data holds, in the primary's terms when it answers. */
async function restoredHistory(ctx: Context, primary: string, position: string): Promise<string> {
  const history = await serverState(ctx, primary).then(
    (s) => s.gtidBinlogState,
    () => '',
  );
  if (history === '' || position === '') return position;
  return formatGtidList(stateAtPosition(parseGtidList(history), parseGtidList(position)));
}

export async function restoreToHost(
  ctx: Context,
  options: HostRestoreOptions,
): Promise<HostRestoreReport> {
  const started = performance.now();
  const state = await readDbState(ctx);
  const { host, primary } = checkRestoreTarget(ctx, state, options.to, options.force === true);
  const backup = backupHost(ctx.model);
  if (backup === undefined)
    throw new ChangeRefused('this lab has no host with the backup role: add one to foobar.yaml');
  const point = options.target;
  const steps: HostRestoreStep[] = [];
  const notes: string[] = [];
  const step = async <T>(title: string, work: () => Promise<T>): Promise<T> => {
    const at = new Date();
    options.log(`${clock(at)} ${title}...`);
    const t0 = performance.now();
    const result = await work();
    const seconds = (performance.now() - t0) / 1000;
    steps.push({ step: title, at: at.toISOString(), seconds });
    options.log(`${clock(new Date())} ${title}: done in ${seconds.toFixed(1)} s`);
    return result;
  };

  // Automatic failover must not act on a primary that is stopped on purpose: paused in etcd (the
  // lab's lock, which this command holds, only makes the managers wait for it).
  const keys = failoverKeys(ctx.model);
  let pausedHere = false;
  if (primary && failoverMembers(ctx.model).length > 0) {
    const already = await labEtcd(ctx).get(keys.pause);
    if (already === undefined) {
      await step('pause automatic failover', () =>
        pauseFailover(ctx, `db restore of ${host.name} to ${point}`),
      );
      pausedHere = true;
    } else notes.push('automatic failover was paused already: left paused');
  }

  const scratch = await step(`restore ${point} onto the scratch server on ${backup.name}`, () =>
    restoreToScratch(ctx, {
      target: point,
      progress: (line) => {
        if (line.includes(': done in ')) options.log(`  ${line}`);
        else options.progress(line);
      },
    }),
  );
  const gtid = await restoredHistory(ctx, state.primary, scratch.gtid);

  // While the target still runs: streamed beside its data directory and prepared there.
  const from = {
    target: backup.name,
    command: mariadb.backupStreamAsRoot(
      scratchFiles(ctx, backup.name).config,
      scratchFiles(ctx, backup.name).socket,
    ),
  };
  const copy = await step(`stream the restored data from ${backup.name} into ${host.name}`, () =>
    receiveCopy(
      ctx,
      host.name,
      from,
      {
        copy: `copy of ${point} restored on ${backup.name}`,
        doing: `streaming the data restored on ${backup.name}`,
      },
      (bytes, seconds) => {
        options.progress(`${formatBytes(bytes)} streamed in ${seconds.toFixed(0)} s`);
      },
    ),
  );
  notes.push(`${formatBytes(copy.bytes)} streamed in ${copy.seconds.toFixed(1)} s`);

  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const aside = path.join(
    path.dirname(dbFiles(ctx, host.name).datadir),
    `mysql.before-restore-${stamp}`,
  );
  const entry: RestoredServer = { host: host.name, point, gtid: '', at: new Date().toISOString() };
  // Recorded before it stops: nothing takes a backup from it or promotes it from here on.
  const during: DbState = primary
    ? state
    : {
        ...state,
        restored: [...(state.restored ?? []).filter((r) => r.host !== host.name), entry],
      };
  if (!primary)
    await step(`take ${host.name} out of the apps' reads (database.json, db.json)`, async () => {
      await writeDbState(ctx, during);
      await pushTopologyToApps(ctx, during);
    });
  const daemon = mariadbDaemon(ctx, host, during);
  const datadir = dbFiles(ctx, host.name).datadir;
  let keptAside: string | undefined;
  let position: string;
  // When the restored server could first write: its binary log is the history from there on.
  let writesFrom = new Date().toISOString();
  try {
    await step(
      `stop ${host.name}${primary ? ' (the site takes no writes from here)' : ''}`,
      async () => {
        await stopDaemon(ctx, daemon);
      },
    );
    keptAside = await step(`swap the data in (the old data kept aside)`, () =>
      replaceDataDir(
        ctx,
        host.name,
        copy,
        {
          how: 'restored',
          from: backup.name,
          gtid,
          positioned: false,
          restoredTo: point,
          at: new Date().toISOString(),
          bytes: copy.bytes,
          seconds: Number(copy.seconds.toFixed(1)),
        },
        aside,
      ),
    );
    position = await step(`start ${host.name} on the restored data`, async () => {
      writesFrom = new Date().toISOString();
      await ensureDaemon(ctx, daemon);
      await ensureAdminAccess(ctx, host.name);
      await positionCopiedData(ctx, host.name);
      if (primary) await runSql(ctx, host.name, 'SET GLOBAL read_only = OFF;');
      return (await serverState(ctx, host.name)).gtidBinlogPos;
    });
  } catch (error) {
    const old =
      keptAside === undefined
        ? `its data directory ${datadir} is as it was (or, if it was moved, in ${aside})`
        : `its data from before is in ${keptAside}`;
    const next = primary
      ? `the primary is down and automatic failover ${pausedHere ? 'paused' : 'as it was'}: to go back, stop it, move ${aside} back to ${datadir} and run foobar up; or promote a replica (foobar db promote HOST --force)`
      : `it serves no one (database.json says restored): foobar db rejoin ${host.name} makes it a replica again`;
    throw new Error(
      `${host.name}: the restore stopped half-way (${(error as Error).message.split('\n')[0] ?? ''}); ${old}; ${next}`,
      { cause: error },
    );
  }
  const rto = (performance.now() - started) / 1000;

  const reseeded: string[] = [];
  if (primary) {
    // Its binary log before this moment is the history only up to the point (the archive's
    // restores stop there: backup/catalog.ts Takeover); the reseeds' events follow it.
    const now = await readDbState(ctx);
    await writeDbState(ctx, {
      ...now,
      history: [
        ...now.history,
        { at: writesFrom, action: 'restore', host: host.name, gtid: position },
      ],
    });
    const failed: string[] = [];
    for (const replica of replicasOf(ctx, state)) {
      try {
        await step(`reseed ${replica.name} from ${host.name}`, () =>
          rejoin(ctx, replica.name, { reseed: true }),
        );
        reseeded.push(replica.name);
      } catch (error) {
        failed.push(replica.name);
        notes.push(
          `${replica.name} could not be reseeded (${(error as Error).message.split('\n')[0] ?? ''}): foobar db rejoin ${replica.name} --reseed`,
        );
      }
    }
    if (pausedHere && failed.length === 0) {
      await step('resume automatic failover', () => labEtcd(ctx).delete(keys.pause));
    } else if (pausedHere) {
      notes.push(
        `automatic failover stays paused until ${failed.join(', ')} ${failed.length === 1 ? 'is' : 'are'} reseeded: then foobar db failover resume`,
      );
    }
  } else {
    const now = await readDbState(ctx);
    await writeDbState(ctx, {
      ...now,
      restored: [
        ...(now.restored ?? []).filter((r) => r.host !== host.name),
        { ...entry, gtid: position, ...(keptAside === undefined ? {} : { aside: keptAside }) },
      ],
      history: [
        ...now.history,
        { at: new Date().toISOString(), action: 'restore', host: host.name, gtid: position },
      ],
    });
  }
  const totalSeconds = (performance.now() - started) / 1000;
  await appendAudit(ctx, {
    action: 'db restore',
    host: host.name,
    outcome: 'succeeded',
    detail: `to ${point}${primary ? ', the primary (forced); replicas reseeded' : ''}`,
    seconds: Number(totalSeconds.toFixed(1)),
  });
  return {
    to: host.name,
    point,
    primary,
    gtid: position,
    aside: keptAside ?? null,
    socket: dbFiles(ctx, host.name).socket,
    scratch,
    reseeded,
    steps,
    seconds: rto,
    totalSeconds,
    notes,
  };
}

/** What `foobar db restore --to HOST` prints. */
export function formatHostRestore(r: HostRestoreReport): string {
  const lines = [
    `restored ${r.point} onto ${r.to} in ${r.seconds.toFixed(1)} s (RTO${r.primary ? ': writable again' : ''}): full backup ${r.scratch.plan.backup.id} + ${r.scratch.plan.binlogs.length} binary log(s), now at GTID ${r.gtid || '-'}`,
    ...r.steps.map(
      (s) => `  ${clock(new Date(s.at))}  ${s.seconds.toFixed(1).padStart(6)} s  ${s.step}`,
    ),
    ...r.notes.map((n) => `  ${n}`),
    r.aside === null
      ? `${r.to} had no data directory before: nothing was kept aside`
      : `${r.to}'s data from before the restore is kept (not deleted) in ${r.aside}`,
  ];
  if (r.primary)
    lines.push(
      `${r.to} is the primary again, at the restored point${r.reseeded.length === 0 ? '' : `; ${r.reseeded.join(', ')} reseeded from it`} (everything in ${r.totalSeconds.toFixed(1)} s)`,
    );
  else
    lines.push(
      `${r.to} is a copy AT the restored point and does NOT replicate: inspect it (foobar exec ${r.to} -- mariadb --socket=${r.socket} --user=root), then foobar db rejoin ${r.to} makes it a replica again (a fresh copy of the primary)`,
    );
  return `${lines.join('\n')}\n`;
}
