/**
 * Logs through a whole bench run (issue 14, point 3: "a bench run at full speed for minutes stays
 * under the cap"): every host's log files, live and rotated, summed every second from the lab's
 * `up` to the end of the last part (not the logs of the bench's own copies of a daemon), with their peak against the host's cap
 * (`logs.maxMegabytesPerHost`) and about how much the daemons wrote meanwhile, which the rotator
 * kept under it. The lab's hosts' files are all on this machine: a sample is a few dozen stats.
 */
import path from 'node:path';
import { hostsWithRole } from '../src/model/model.ts';
import { logEntries, type LogEntry } from '../src/platform/lab/logs.ts';
import type { Context } from '../src/steps/context.ts';
import { rotatorConfig } from '../src/steps/logs.ts';

const MB = 1024 * 1024;

export interface HostLogs {
  readonly host: string;
  /** The most its log files held together at any sample, MB. */
  readonly peakMb: number;
  /** At the last sample, MB. */
  readonly endMb: number;
  /** About what its daemons wrote to their live files over the run, MB (see `written`). */
  readonly writtenMb: number;
}

export interface LogCapReport {
  readonly capMb: number;
  readonly seconds: number;
  readonly samples: number;
  readonly hosts: readonly HostLogs[];
  /** Every host at or under its cap at every sample. */
  readonly met: boolean;
}

/**
 * Bytes written to the live files between two samples: a file that grew wrote the difference;
 * one that shrank was rotated (renamed, or copied and truncated) meanwhile and wrote at least
 * what it holds now. So a lower bound: what was written between the last sample and a rotation
 * is not seen.
 */
export function written(
  before: ReadonlyMap<string, number>,
  now: readonly LogEntry[],
  live: ReadonlySet<string>,
): number {
  let bytes = 0;
  for (const entry of now) {
    if (!live.has(entry.path)) continue;
    const previous = before.get(entry.path) ?? 0;
    bytes += entry.size >= previous ? entry.size - previous : entry.size;
  }
  return bytes;
}

/** A live file of the host's daemons, or a rotated generation of one (`FILE.<time>`). */
export function isHostLog(file: string, live: ReadonlySet<string>): boolean {
  return live.has(file) || [...live].some((l) => file.startsWith(`${l}.`));
}

interface Tracked {
  readonly host: string;
  readonly dirs: readonly string[];
  readonly live: ReadonlySet<string>;
  sizes: Map<string, number>;
  peak: number;
  end: number;
  written: number;
}

/** Starts sampling; `stop` ends it and reports. */
export async function watchLogs(
  ctx: Context,
  intervalMs = 1000,
): Promise<{ stop: () => Promise<LogCapReport> }> {
  const rotator = hostsWithRole(ctx.model, 'mon')[0];
  if (rotator === undefined) throw new Error('the lab has no monitor host (its log rotator)');
  const config = await rotatorConfig(ctx, rotator);
  const tracked: Tracked[] = config.hosts.map((h) => ({
    host: h.host,
    dirs: [...new Set(h.live.map((f) => path.dirname(f)))],
    live: new Set(h.live),
    sizes: new Map(),
    peak: 0,
    end: 0,
    written: 0,
  }));
  const started = Date.now();
  let samples = 0;
  const sample = async (): Promise<void> => {
    for (const t of tracked) {
      // The host's own logs, live and rotated: not the log of a bench copy beside them.
      const entries = (await logEntries(t.dirs)).filter((e) => isHostLog(e.path, t.live));
      const total = entries.reduce((sum, e) => sum + e.size, 0);
      if (samples > 0) t.written += written(t.sizes, entries, t.live);
      t.sizes = new Map(entries.filter((e) => t.live.has(e.path)).map((e) => [e.path, e.size]));
      t.peak = Math.max(t.peak, total);
      t.end = total;
    }
    samples++;
  };
  await sample();
  // One sample at a time: a slow one (a loaded machine) delays the next, never overlaps it.
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(sample);
  }, intervalMs);
  // A bench that fails half-way exits without waiting for it.
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
      await sample();
      const capMb = ctx.model.logs.maxMegabytesPerHost;
      const hosts = tracked.map((t) => ({
        host: t.host,
        peakMb: t.peak / MB,
        endMb: t.end / MB,
        writtenMb: t.written / MB,
      }));
      return {
        capMb,
        seconds: (Date.now() - started) / 1000,
        samples,
        hosts,
        met: hosts.every((h) => h.peakMb <= capMb),
      };
    },
  };
}

export function formatLogCap(report: LogCapReport): string {
  const rows = [...report.hosts].sort((a, b) => b.writtenMb - a.writtenMb);
  const width = Math.max(4, ...rows.map((r) => r.host.length));
  const lines = [
    `logs over the run (${(report.seconds / 60).toFixed(1)} min, ${report.samples} samples a second apart): every host's files, live and rotated, against its cap of ${report.capMb} MB`,
    '',
    `${'host'.padEnd(width)}  written MB (at least)  peak MB  end MB`,
    ...rows.map(
      (r) =>
        `${r.host.padEnd(width)}  ${r.writtenMb.toFixed(1).padStart(21)}  ${r.peakMb.toFixed(1).padStart(7)}  ${r.endMb.toFixed(1).padStart(6)}`,
    ),
    '',
    `every host at or under its cap at every sample: ${report.met ? 'met' : 'NOT met'}`,
  ];
  return lines.join('\n');
}
