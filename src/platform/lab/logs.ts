/**
 * Log rotation in the lab. No logrotate or journald runs per namespace, so foobar's log rotator
 * (a small daemon, src/platform/lab/rotator.ts) looks at every host's logs every few seconds and
 * keeps each host under its cap (`logs` in the model). Every host's files are on this machine, so
 * it reads sizes with stat and renames with fs: checking costs no process at all.
 *
 * How a daemon keeps writing: a file the daemon opens itself and reopens on a signal (Nginx's
 * logs, USR1) is renamed, then the daemon told, and loses nothing. Every other file (a daemon's
 * output, which foobar opened for it with O_APPEND, or a file its daemon cannot reopen) is copied
 * and truncated: the writer's next write lands at the new end of the same file, and only what it
 * wrote between the last copied byte and the truncate (microseconds) is lost.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Signal } from '../../commands/proc.ts';
import type { LogSettings } from '../../model/model.ts';

const MB = 1024 * 1024;
const HOUR_MS = 3_600_000;

/** A log file as stat sees it. */
export interface LogEntry {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** When the file (this inode) was created. */
  readonly birthMs: number;
}

export interface RotationPlan {
  /** Live files to rotate now. */
  readonly rotate: readonly string[];
  /** Rotated files to delete (too old, or the oldest of a host over its cap). */
  readonly remove: readonly string[];
  /** Live files to empty without keeping a copy: the host is over its cap with nothing else left. */
  readonly empty: readonly string[];
}

/**
 * A live file rotates when it reaches this, a fifth of the host's cap. The rotator keeps at least
 * this much room free for the next pass's writes (planRotation): about four generations stay.
 */
export function rotateBytes(settings: LogSettings): number {
  return Math.floor((settings.maxMegabytesPerHost * MB) / 5);
}

/** The name a rotated copy of `file` gets: sorted by name is sorted by time. */
export function rotatedName(file: string, now: Date): string {
  return `${file}.${now.toISOString().replaceAll(/[-:.]/g, '')}`;
}

const ROTATED = /\.\d{8}T\d{9}Z$/;

/** What the host will need before the next pass, beyond what its files hold now. */
export interface Reserve {
  /** What the host's live files grew by during the last pass. */
  readonly growth: number;
  /** Live files that rotate by rename (their daemon reopens them): no copy is made of those. */
  readonly renamed: ReadonlySet<string>;
}

/**
 * What to do with one host's logs: `live` are the files daemons write now, `entries` everything
 * in the host's log directories (live and rotated). Pure, for the tests.
 *
 * The cap holds between passes too: rotated copies go while the host's files, plus the copies
 * this pass makes (copy and truncate holds both for a moment) and room for what daemons write
 * before the next pass, would be over it. That room is twice the last pass's growth, and at least
 * a live file's rotation size (a fifth of the cap): load that starts after a quiet spell had no
 * growth to go by, and took a host near its cap over by a pass's writes (HAProxy at full speed
 * writes 3–4 MB in a pass). Live files are emptied only when they alone are over the cap.
 */
export function planRotation(
  entries: readonly LogEntry[],
  live: ReadonlySet<string>,
  settings: LogSettings,
  now: number,
  reserve?: Reserve,
): RotationPlan {
  const cap = settings.maxMegabytesPerHost * MB;
  const rotated = entries.filter((e) => !live.has(e.path) && ROTATED.test(e.path));
  const remove = new Set<string>();
  for (const e of rotated)
    if (now - e.mtimeMs > settings.keepDays * 24 * HOUR_MS) remove.add(e.path);
  const rotate: string[] = [];
  const sizes = new Map(entries.map((e) => [e.path, e.size]));
  for (const e of entries) {
    if (!live.has(e.path) || e.size === 0) continue;
    // Rotated last: the newest rotated copy's time, or the file's creation.
    const copies = rotated.filter((r) => r.path.startsWith(`${e.path}.`));
    const since = Math.max(e.birthMs, ...copies.map((c) => c.mtimeMs));
    if (e.size >= rotateBytes(settings) || now - since >= settings.rotateHours * HOUR_MS)
      rotate.push(e.path);
  }
  // Over the cap: the oldest rotated files go first, then live files are emptied, largest first.
  let total = entries.reduce((sum, e) => sum + (remove.has(e.path) ? 0 : e.size), 0);
  const copying = rotate
    .filter((f) => reserve !== undefined && !reserve.renamed.has(f))
    .reduce((sum, f) => sum + (sizes.get(f) ?? 0), 0);
  const ahead =
    reserve === undefined ? 0 : copying + Math.max(2 * reserve.growth, rotateBytes(settings));
  const oldestFirst = rotated
    .filter((e) => !remove.has(e.path))
    .sort((a, b) => a.mtimeMs - b.mtimeMs || a.path.localeCompare(b.path));
  for (const e of oldestFirst) {
    if (total + ahead <= cap) break;
    remove.add(e.path);
    total -= e.size;
  }
  const empty: string[] = [];
  const largestLive = entries
    .filter((e) => live.has(e.path))
    .sort((a, b) => b.size - a.size || a.path.localeCompare(b.path));
  for (const e of largestLive) {
    if (total <= cap) break;
    empty.push(e.path);
    total -= sizes.get(e.path) ?? 0;
  }
  return {
    rotate: rotate.filter((f) => !empty.includes(f)),
    remove: [...remove].sort(),
    empty,
  };
}

/** Every file of `dirs` with its size and times (a missing directory has none). */
export async function logEntries(dirs: readonly string[]): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  for (const dir of dirs) {
    const names = await fs.readdir(dir).catch(() => []);
    for (const name of names) {
      const file = path.join(dir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat?.isFile() !== true) continue;
      entries.push({
        path: file,
        size: stat.size,
        mtimeMs: stat.mtimeMs,
        birthMs: stat.birthtimeMs > 0 ? stat.birthtimeMs : stat.ctimeMs,
      });
    }
  }
  return entries;
}

/**
 * Copies `file` aside, then empties it in place: the writer keeps its descriptor (O_APPEND), and
 * what it wrote while the copy ran is copied too before the truncate.
 */
export async function copyTruncate(file: string, to: string): Promise<void> {
  const source = await fs.open(file, 'r');
  const target = await fs.open(to, 'wx', 0o640);
  try {
    const buffer = Buffer.alloc(1024 * 1024);
    let position = 0;
    for (;;) {
      const { bytesRead } = await source.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      await target.write(buffer, 0, bytesRead);
      position += bytesRead;
    }
    await fs.truncate(file, 0);
  } finally {
    await source.close();
    await target.close();
  }
}

/** What `up` tells the rotator (its config file): every host's live logs and who reopens which. */
export interface RotatorConfig {
  readonly intervalMs: number;
  /** Written after every pass; the rotator's probe reads its age. */
  readonly heartbeat: string;
  readonly settings: LogSettings;
  readonly hosts: readonly {
    readonly host: string;
    readonly live: readonly string[];
    readonly reopen: readonly {
      readonly files: readonly string[];
      readonly pidFile: string;
      /** On the process's command line (its config path): the pid is still our daemon's. */
      readonly marker: string;
      readonly signal: Signal;
    }[];
  }[];
}

/** The pid in `pidFile` if it is a live process with `marker` on its command line. */
async function ourPid(pidFile: string, marker: string): Promise<number | undefined> {
  const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.replaceAll('\0', ' ').includes(marker) ? pid : undefined;
}

/**
 * Rotates, deletes and empties what the plan says for one host; a line per thing done. `seen`
 * keeps each live file's size from the last pass, for the host's growth between passes.
 */
export async function rotateHostLogs(
  config: RotatorConfig,
  host: RotatorConfig['hosts'][number],
  now = new Date(),
  seen = new Map<string, number>(),
): Promise<string[]> {
  const live = new Set(host.live);
  const dirs = [...new Set(host.live.map((f) => path.dirname(f)))];
  const entries = await logEntries(dirs);
  const growth = entries
    .filter((e) => live.has(e.path))
    .reduce((sum, e) => sum + Math.max(0, e.size - (seen.get(e.path) ?? e.size)), 0);
  const renamed = new Set(host.reopen.flatMap((r) => r.files));
  const plan = planRotation(entries, live, config.settings, now.getTime(), { growth, renamed });
  for (const e of entries) if (live.has(e.path)) seen.set(e.path, e.size);
  const done: string[] = [];
  // Deleted first: the copies made below then fit under the cap.
  for (const file of plan.remove) {
    await fs.rm(file, { force: true });
    done.push(`${host.host}: ${path.basename(file)} deleted`);
  }
  const signalled = new Set<number>();
  for (const file of plan.rotate) {
    const to = rotatedName(file, now);
    const reopener = host.reopen.find((r) => r.files.includes(file));
    const pid =
      reopener === undefined ? undefined : await ourPid(reopener.pidFile, reopener.marker);
    if (reopener !== undefined && pid !== undefined) {
      // Renamed, the file still takes the daemon's writes until it reopens: nothing is lost.
      await fs.rename(file, to);
      if (!signalled.has(pid)) process.kill(pid, `SIG${reopener.signal}`);
      signalled.add(pid);
      done.push(`${host.host}: ${path.basename(file)} renamed, reopened on SIG${reopener.signal}`);
    } else {
      await copyTruncate(file, to);
      done.push(`${host.host}: ${path.basename(file)} copied and truncated`);
    }
    seen.set(file, 0);
  }
  for (const file of plan.empty) {
    await fs.truncate(file, 0);
    seen.set(file, 0);
    done.push(`${host.host}: ${path.basename(file)} emptied (the host was over its cap)`);
  }
  return done;
}
