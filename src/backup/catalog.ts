/**
 * What the backup host holds, read from the manifests beside the sealed files, and the pure
 * decisions over it: which backups a retention policy keeps, and which backup and binary logs
 * recover a given moment.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { backup as commands } from '../commands/backup.ts';
import { runProcessLines } from '../drivers/process.ts';
import { hasReached, isAhead, parseGtidList, type Gtid } from '../lib/gtid.ts';

const sealedSchema = z.object({
  bytes: z.number(),
  plainBytes: z.number(),
  sha256: z.string(),
  iv: z.string(),
  tag: z.string(),
});

export const fullBackupSchema = z.object({
  kind: z.literal('full'),
  id: z.string(),
  /** The replica it was taken from. */
  source: z.string(),
  startedAt: z.string(),
  /** The backup is consistent at a moment before this (mariadb-backup's final lock). */
  finishedAt: z.string(),
  /** The GTID position of the copy: every transaction up to it, none after. */
  gtid: z.string(),
  file: z.string(),
  sealed: sealedSchema,
});
export type FullBackup = z.infer<typeof fullBackupSchema>;

/** A binary log file's span, read from its events. */
export interface BinlogSpan {
  /** The GTID state at the file's start (its Gtid_list event). */
  readonly startState: string;
  readonly firstGtid?: string;
  readonly lastGtid?: string;
  readonly firstAt?: string;
  readonly lastAt?: string;
}

export const binlogSchema = z.object({
  kind: z.literal('binlog'),
  /** The server whose binary log it is (the primary when it was archived). */
  source: z.string(),
  name: z.string(),
  startState: z.string(),
  firstGtid: z.string().optional(),
  lastGtid: z.string().optional(),
  firstAt: z.string().optional(),
  lastAt: z.string().optional(),
  sealedAt: z.string(),
  file: z.string(),
  sealed: sealedSchema,
});
export type ArchivedBinlog = z.infer<typeof binlogSchema>;

/** A binary log still being written (in the spool, not sealed yet): usable by a restore. */
export interface OpenBinlog extends BinlogSpan {
  readonly source: string;
  readonly name: string;
  /** Its plain file in the spool. */
  readonly path: string;
}

export type Binlog = (ArchivedBinlog & { readonly path: string }) | OpenBinlog;

async function manifests<T>(dir: string, schema: z.ZodType<T>): Promise<T[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  const found: T[] = [];
  for (const name of names) {
    const parsed = schema.safeParse(JSON.parse(await readFile(path.join(dir, name), 'utf8')));
    if (!parsed.success)
      throw new Error(`${path.join(dir, name)}: not a backup manifest (${parsed.error.message})`);
    found.push(parsed.data);
  }
  return found;
}

/** Full backups, oldest first. */
export async function readFullBackups(dir: string): Promise<FullBackup[]> {
  return (await manifests(dir, fullBackupSchema)).sort((a, b) =>
    a.finishedAt.localeCompare(b.finishedAt),
  );
}

/** Archived binary logs of every server, each with the path of its sealed file. */
export async function readArchivedBinlogs(
  dir: string,
): Promise<(ArchivedBinlog & { path: string })[]> {
  let sources: string[];
  try {
    sources = (await readdir(dir)).sort();
  } catch {
    return [];
  }
  const all: (ArchivedBinlog & { path: string })[] = [];
  for (const source of sources) {
    const sub = path.join(dir, source);
    for (const b of await manifests(sub, binlogSchema))
      all.push({ ...b, path: path.join(sub, b.file) });
  }
  return all;
}

/** Whether an archived binary log is `open`, sealed since it was read in the spool. */
function isSealedCopyOf(archived: ArchivedBinlog, open: OpenBinlog): boolean {
  return (
    archived.source === open.source &&
    archived.name === open.name &&
    archived.startState === open.startState &&
    (open.firstGtid === undefined || archived.firstGtid === open.firstGtid)
  );
}

/**
 * The catalog's binary logs from the spool read *before* the archive (so a file sealed in
 * between is in one of them at least), the spool's files already in the archive left out.
 */
export function mergeBinlogs(
  archived: readonly (ArchivedBinlog & { path: string })[],
  open: readonly OpenBinlog[],
): Binlog[] {
  return [...archived, ...open.filter((o) => !archived.some((a) => isSealedCopyOf(a, o)))];
}

/**
 * The archived copy of a spooled binary log whose spool file has gone since the catalog was
 * read: the agent sealed it meanwhile (and a restore then reads it from the archive). Of two
 * copies of one name (a server whose binary log started again) the newest sealed.
 */
export function sealedCopy(
  open: OpenBinlog,
  archived: readonly (ArchivedBinlog & { path: string })[],
): (ArchivedBinlog & { path: string }) | undefined {
  return archived
    .filter((a) => isSealedCopyOf(a, open))
    .sort((a, b) => b.sealedAt.localeCompare(a.sealedAt))[0];
}

const EVENT_HEAD = /^#(\d{2})(\d{2})(\d{2}) +(\d{1,2}):(\d{2}):(\d{2}) server id \d+ .*\t(.*)$/;

/**
 * The span of a binary log from `mariadb-binlog`'s text of it (run with TZ=UTC): the Gtid_list
 * at its start, its first and last *complete* transaction's GTID and time.
 *
 * A file can end inside a transaction: a copy cut short (the follower that spooled it stopped
 * mid-event), or one cut between two of a transaction's events. `mariadb-binlog` prints every
 * whole event, says "Event truncated" on its error output, still exits 0, and ends with a
 * ROLLBACK, so a replay of the file never commits that last transaction. Its GTID event was
 * whole and printed, though: counted, the span would claim a transaction the file does not hold,
 * and a restore would skip it in the next file that does. A transaction counts once its end is
 * printed: the Xid event (or a COMMIT query) of a `trans` group, the one event after a
 * standalone GTID (DDL).
 */
export function parseBinlogText(text: string): BinlogSpan {
  const reader = new BinlogSpanReader();
  for (const line of text.split('\n')) reader.line(line);
  return reader.span();
}

/**
 * A binary log file's span, read from `mariadb-binlog` as its text comes out: none of it is held,
 * so a file of any size is read in the memory of a small daemon (the backup agent's heap is
 * capped at 96 MB; a 137 MB file's whole text, held, took it past that). `exitCode` and `stderr`
 * are mariadb-binlog's: a file cut inside an event still exits 0 (see parseBinlogText).
 */
export async function readBinlogSpan(
  file: string,
): Promise<{ readonly span: BinlogSpan; readonly exitCode: number; readonly stderr: string }> {
  const reader = new BinlogSpanReader();
  const result = await runProcessLines(
    commands.heads(file).argv,
    (line) => {
      reader.line(line);
    },
    {
      env: { ...process.env, TZ: 'UTC' },
      timeoutMs: 120_000,
    },
  );
  return { span: reader.span(), ...result };
}

/**
 * `parseBinlogText` a line at a time, for a text too large to hold: a binary log of a bulk load
 * is hundreds of MB of text, and what the span needs is a few of its lines.
 */
class BinlogSpanReader {
  private startState = '';
  private first: { gtid: string; at: string } | undefined;
  private last: { gtid: string; at: string } | undefined;
  /** The transaction whose GTID was read and whose end was not yet. */
  private open: { gtid: string; at: string; trans: boolean; inQuery: boolean } | undefined;

  line(line: string): void {
    const head = EVENT_HEAD.exec(line);
    if (head === null) {
      // A query event's statement: COMMIT ends a group of non-transactional changes.
      if (this.open?.inQuery === true && /^COMMIT\b/.test(line)) this.complete();
      return;
    }
    const [, yy, mo, dd, hh, mi, ss, what = ''] = head;
    const at = `20${yy}-${mo}-${dd}T${(hh ?? '').padStart(2, '0')}:${mi}:${ss}Z`;
    const list = /^Gtid list \[([^\]]*)\]/.exec(what);
    if (
      list !== null &&
      this.startState === '' &&
      this.first === undefined &&
      this.open === undefined
    ) {
      this.startState = list[1] ?? '';
      return;
    }
    const gtid = /^GTID (\d+-\d+-\d+)(.*)$/.exec(what);
    if (gtid?.[1] !== undefined) {
      this.open = { gtid: gtid[1], at, trans: /\btrans\b/.test(gtid[2] ?? ''), inQuery: false };
      return;
    }
    if (this.open === undefined) return;
    if (!this.open.trans || what.startsWith('Xid = ')) this.complete();
    // (EVENT_HEAD's `what` is a Query event's last field: the event's name is tab-separated.)
    else this.open.inQuery = line.includes('\tQuery\t');
  }

  span(): BinlogSpan {
    const { startState, first, last } = this;
    return {
      startState,
      ...(first === undefined ? {} : { firstGtid: first.gtid, firstAt: first.at }),
      ...(last === undefined ? {} : { lastGtid: last.gtid, lastAt: last.at }),
    };
  }

  private complete(): void {
    if (this.open === undefined) return;
    this.first ??= { gtid: this.open.gtid, at: this.open.at };
    this.last = { gtid: this.open.gtid, at: this.open.at };
    this.open = undefined;
  }
}

/**
 * The backups a retention policy keeps: the newest of each of the last `daily` days that have
 * one, and of each of the last `weekly` ISO weeks (UTC); the newest backup always.
 */
export function retained(
  backups: readonly FullBackup[],
  policy: { keepDaily: number; keepWeekly: number },
): Set<string> {
  const newestFirst = [...backups].sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
  const keep = new Set<string>();
  const pick = (bucket: (b: FullBackup) => string, count: number): void => {
    const seen = new Set<string>();
    for (const backup of newestFirst) {
      const key = bucket(backup);
      if (seen.has(key)) continue;
      if (seen.size >= count) break;
      seen.add(key);
      keep.add(backup.id);
    }
  };
  pick((b) => b.finishedAt.slice(0, 10), policy.keepDaily);
  pick((b) => isoWeek(new Date(b.finishedAt)), policy.keepWeekly);
  if (newestFirst[0] !== undefined) keep.add(newestFirst[0].id);
  return keep;
}

function isoWeek(date: Date): string {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const day = d.getUTCDay() === 0 ? 7 : d.getUTCDay();
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  return `${d.getUTCFullYear()}-W${Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7)}`;
}

/** The moment to recover: the instant before a time, or up to (and with) a GTID. */
export type RecoveryTarget = { readonly time: string } | { readonly gtid: string };

export interface RecoveryPlan {
  readonly backup: FullBackup;
  /**
   * In the order to apply them, each from the position the previous ones reached, and a file
   * that goes on past the site's history (see Takeover) only `until` its takeover's position.
   */
  readonly binlogs: readonly {
    readonly binlog: Binlog;
    readonly from: string;
    readonly until?: string;
  }[];
  /** Where the binary logs stop: the last GTID at or before the target. */
  readonly reaches: string;
}

/**
 * The moment a server's binary log stopped being the site's history, from database.json's
 * events: a promotion or switchover (`source` the primary before; the new one took over at
 * `gtid`, so whatever `source` wrote after it reached no replica and was lost with it) or a
 * restore of the primary (`restarted`: it was put back at `gtid` and writes again from `at` under
 * the same server id and the numbers after `gtid`). A file `source` began before `at` is the
 * site's history up to `gtid` only.
 */
export interface Takeover {
  readonly source: string;
  readonly gtid: string;
  readonly at: string;
  readonly restarted: boolean;
}

/** The takeovers in database.json's history (its events, oldest first). */
export function takeoversOf(
  history: readonly {
    readonly action: string;
    readonly host: string;
    readonly from?: string;
    readonly gtid?: string;
    readonly at: string;
  }[],
): Takeover[] {
  return history.flatMap((e): Takeover[] => {
    if (e.gtid === undefined || e.gtid === '') return [];
    if ((e.action === 'promote' || e.action === 'switchover') && e.from !== undefined)
      return [{ source: e.from, gtid: e.gtid, at: e.at, restarted: false }];
    if (e.action === 'restore')
      return [{ source: e.host, gtid: e.gtid, at: e.at, restarted: true }];
    return [];
  });
}

/**
 * The first takeover that ends `binlog`'s share of the history: its source's first one after
 * the file began. A file's time is to the second: one begun in the second of a restore is
 * before it only if it starts at or below the restored position (the restarted server's first
 * file starts after it); a former primary writes nothing after a promotion, so any file it began
 * up to that second is before it.
 */
function takeoverOf(binlog: Binlog, takeovers: readonly Takeover[]): Takeover | undefined {
  const began = Date.parse(binlog.firstAt ?? '');
  if (Number.isNaN(began)) return undefined;
  return takeovers
    .filter((t) => t.source === binlog.source)
    .sort((a, b) => a.at.localeCompare(b.at))
    .find((t) => {
      const at = Date.parse(t.at);
      if (!t.restarted) return began <= at;
      return began + 1000 <= at || (began <= at && seqOf(binlog.firstGtid ?? '') <= seqOf(t.gtid));
    });
}

/** The highest sequence number in a GTID list. */
export function seqOf(list: string): bigint {
  return parseGtidList(list).reduce((max, g) => (g.seq > max ? g.seq : max), 0n);
}

function maxPosition(a: readonly Gtid[], b: readonly Gtid[]): Gtid[] {
  const domains = new Set([...a, ...b].map((g) => g.domain));
  return [...domains].map((domain) => {
    const pick = [...a, ...b]
      .filter((g) => g.domain === domain)
      .reduce((best, g) => (g.seq > best.seq ? g : best));
    return pick;
  });
}

/**
 * The last full backup before the target, and the binary logs that carry it forward to the
 * target, without gaps: a file whose start is beyond what the ones before reached leaves a hole,
 * and the plan says so rather than recovering a moment with transactions missing. A file is
 * used only up to its takeover (`takeovers`, from database.json) when the target is after it:
 * past it are transactions the site lost or undid, whose sequence numbers the next primary's
 * own transactions reuse. A GTID target is in the history as it is now: always after.
 */
export function planRecovery(
  target: RecoveryTarget,
  backups: readonly FullBackup[],
  binlogs: readonly Binlog[],
  takeovers: readonly Takeover[] = [],
): RecoveryPlan {
  const before = (at: string | undefined): boolean =>
    'time' in target ? at !== undefined && at < target.time : false;
  const withinGtid = (gtid: string | undefined): boolean =>
    'gtid' in target &&
    gtid !== undefined &&
    hasReached(parseGtidList(target.gtid), parseGtidList(gtid));
  const candidates = backups.filter((b) =>
    'time' in target ? b.finishedAt < target.time : withinGtid(b.gtid),
  );
  const backup = candidates.at(-1);
  if (backup === undefined) {
    const what = 'time' in target ? `before ${target.time}` : `at or before ${target.gtid}`;
    throw new Error(
      `no full backup ${what} (${backups.length} backups, the oldest ${backups[0]?.finishedAt ?? 'none'})`,
    );
  }
  let reached = parseGtidList(backup.gtid);
  const ordered = [...binlogs]
    .filter((b) => b.firstGtid !== undefined)
    .sort((a, b) => {
      const d = seqOf(a.firstGtid ?? '') - seqOf(b.firstGtid ?? '');
      return d < 0n ? -1 : d > 0n ? 1 : a.name.localeCompare(b.name);
    });
  // A moment before a takeover had the old primary's history as it was then (the write no
  // replica got was there); a GTID names the history as it is now.
  const passed =
    'time' in target
      ? takeovers.filter((t) => Date.parse(t.at) < Date.parse(target.time))
      : takeovers;
  const chosen: { binlog: Binlog; from: string; until?: string }[] = [];
  for (const binlog of ordered) {
    const takeover = takeoverOf(binlog, passed);
    // Nothing in it was ever the site's history: the source wrote it all after its takeover.
    if (takeover !== undefined && seqOf(binlog.firstGtid ?? '') > seqOf(takeover.gtid)) continue;
    const cut = takeover !== undefined && seqOf(binlog.lastGtid ?? '') > seqOf(takeover.gtid);
    const last = parseGtidList(cut ? takeover.gtid : (binlog.lastGtid ?? ''));
    if (!isAhead(last, reached)) continue; // nothing new in it
    const useful = 'time' in target ? before(binlog.firstAt) : withinGtid(binlog.firstGtid);
    if (!useful) continue;
    // Its first transaction must follow on from what was reached: sequence numbers of a domain
    // grow one by one, so a larger step is a hole in the archive.
    if (seqOf(binlog.firstGtid ?? '') > seqOf(formatList(reached)) + 1n) {
      throw new Error(
        `the archived binary logs have a gap: ${binlog.source}/${binlog.name} starts at ${binlog.firstGtid ?? '?'} but only ${formatList(reached)} is covered`,
      );
    }
    chosen.push({ binlog, from: formatList(reached), ...(cut ? { until: takeover.gtid } : {}) });
    reached = maxPosition(
      reached,
      'gtid' in target && isAhead(last, parseGtidList(target.gtid))
        ? parseGtidList(target.gtid)
        : last,
    );
  }
  return { backup, binlogs: chosen, reaches: formatList(reached) };
}

function formatList(list: readonly Gtid[]): string {
  return list.map((g) => `${g.domain}-${g.server}-${g.seq}`).join(',');
}
