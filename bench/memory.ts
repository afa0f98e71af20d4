/**
 * The lab's memory: the proportional set size (PSS: shared pages divided among their sharers) and
 * the unique set size (USS: the process's private pages, clean and dirty) of every process in the
 * lab's namespaces, summed per kind of daemon. Read from /proc, so it counts what the daemons hold,
 * not what this machine's page cache does. PSS depends on who else maps the same files (another
 * lab's daemons running the same binaries lower it); USS does not, so growth is judged on both.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../src/steps/context.ts';

export interface KindMemory {
  readonly processes: number;
  /** PSS, MB. */
  readonly mb: number;
  /** USS (Private_Clean + Private_Dirty), MB. */
  readonly ussMb: number;
  /**
   * Private_Dirty, MB: what the processes wrote themselves (heaps, stacks, data), whoever else
   * maps their binaries; USS also counts a binary's pages that no other process maps.
   */
  readonly dirtyMb: number;
}

export interface Memory {
  /** PSS, MB. */
  readonly totalMb: number;
  /** USS, MB. */
  readonly ussMb: number;
  /** kind → processes and their PSS and USS in MB, the largest PSS first. */
  readonly byKind: Readonly<Record<string, KindMemory>>;
}

/** What a process is, from its command line: a Node.js process by its script, others by name. */
export function kindOf(argv: readonly string[]): string {
  const [exe = ''] = argv;
  // Node's own flags (the daemons' small heap) come before the script.
  const script = argv.slice(1).find((arg) => !arg.startsWith('--')) ?? '';
  const name = path.basename(exe.split(' ')[0] ?? exe).replace(/:$/, '');
  if (name === 'node') {
    // A checkout's sources (src/failover/main.ts) or a bundle (daemons/KEY/failover-manager.mjs).
    if (/\/failover[-/]/.test(script)) return 'failover manager (node)';
    if (script.includes('/backup/') || script.endsWith('/backup.mjs')) return 'backup agent (node)';
    if (/\/(platform\/lab\/rotator\.ts|log-rotator\.mjs)$/.test(script))
      return 'log rotator (node)';
    if (script.includes('/dashboard/')) return 'dashboard (node)';
    if (script.includes('/releases/')) return 'app (node)';
    // The bench's visitors (src/load/visitors.ts) on the lab's client host.
    if (script.endsWith('/load/visitors.ts')) return 'load generator (node)';
    return 'node';
  }
  // Nginx renames its processes ("nginx: worker process").
  if (exe.startsWith('nginx')) return 'nginx';
  // The lab's appender of HAProxy's output (src/platform/lab/appender.ts).
  if (name === 'perl') return 'log appender (perl)';
  return name;
}

/** One process's PSS, USS and private dirty memory, MB. */
export interface Rollup {
  readonly pssMb: number;
  readonly ussMb: number;
  readonly dirtyMb: number;
}

/** PSS, USS and Private_Dirty in MB from /proc/PID/smaps_rollup; undefined without a Pss line. */
export function parseRollup(rollup: string): Rollup | undefined {
  const kb = (field: string): number | undefined => {
    const found = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1];
    return found === undefined ? undefined : Number(found);
  };
  const pss = kb('Pss');
  if (pss === undefined) return undefined;
  return {
    pssMb: pss / 1024,
    ussMb: ((kb('Private_Clean') ?? 0) + (kb('Private_Dirty') ?? 0)) / 1024,
    dirtyMb: (kb('Private_Dirty') ?? 0) / 1024,
  };
}

/** PSS, USS and private dirty memory of a running process in MB; undefined once it has exited. */
export async function rollupOf(pid: string): Promise<Rollup | undefined> {
  try {
    return parseRollup(await readFile(`/proc/${pid}/smaps_rollup`, 'utf8'));
  } catch {
    return undefined; // it exited meanwhile, or is a kernel thread
  }
}

/** Every process in the lab's namespaces (its hosts' and its switch's). */
export async function labMemory(ctx: Context): Promise<Memory> {
  const namespaces = [
    ...ctx.model.hosts.map((h) => ctx.names.namespaceOf(h.name)),
    ctx.names.switchNamespace,
  ];
  const byKind = new Map<string, KindMemory>();
  for (const ns of namespaces) {
    const listed = await ctx.driver.exec(
      null,
      { argv: ['ip', 'netns', 'pids', ns] },
      { check: false },
    );
    for (const pid of listed.stdout.split('\n').filter((p) => /^\d+$/.test(p))) {
      const rollup = await rollupOf(pid);
      if (rollup === undefined) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      // A process that exited meanwhile (a zombie has no command line).
      if (cmdline === '') continue;
      const kind = kindOf(cmdline.split('\0'));
      const sum = byKind.get(kind) ?? { processes: 0, mb: 0, ussMb: 0, dirtyMb: 0 };
      byKind.set(kind, {
        processes: sum.processes + 1,
        mb: sum.mb + rollup.pssMb,
        ussMb: sum.ussMb + rollup.ussMb,
        dirtyMb: sum.dirtyMb + rollup.dirtyMb,
      });
    }
  }
  return memoryOf([...byKind.entries()]);
}

/** Kinds summed into a Memory, the largest PSS first. */
export function memoryOf(kinds: readonly (readonly [string, KindMemory])[]): Memory {
  const sorted = [...kinds].sort((a, b) => b[1].mb - a[1].mb);
  return {
    totalMb: sorted.reduce((sum, [, k]) => sum + k.mb, 0),
    ussMb: sorted.reduce((sum, [, k]) => sum + k.ussMb, 0),
    byKind: Object.fromEntries(sorted),
  };
}

/** "PSS 612 MB, USS 480 MB; per kind PSS/USS (processes): mariadbd 257/240 (2), ..." */
export function describeMemory(memory: Memory): string {
  const kinds = Object.entries(memory.byKind).map(
    ([kind, k]) => `${kind} ${k.mb.toFixed(0)}/${k.ussMb.toFixed(0)} (${k.processes})`,
  );
  return `PSS ${memory.totalMb.toFixed(0)} MB, USS ${memory.ussMb.toFixed(0)} MB; per kind PSS/USS (processes): ${kinds.join(', ')}`;
}
