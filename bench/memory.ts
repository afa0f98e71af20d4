/**
 * The lab's memory: the proportional set size (PSS: shared pages divided among their sharers) of
 * every process in the lab's namespaces, summed per kind of daemon. Read from /proc, so it counts
 * what the daemons hold, not what this machine's page cache does.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../src/steps/context.ts';

export interface Memory {
  readonly totalMb: number;
  /** kind → processes and their PSS in MB, the largest first. */
  readonly byKind: Readonly<Record<string, { readonly processes: number; readonly mb: number }>>;
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
  return name;
}

async function pss(pid: string): Promise<number | undefined> {
  try {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = /^Pss:\s+(\d+) kB/m.exec(rollup)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
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
  const byKind = new Map<string, { processes: number; mb: number }>();
  for (const ns of namespaces) {
    const listed = await ctx.driver.exec(
      null,
      { argv: ['ip', 'netns', 'pids', ns] },
      { check: false },
    );
    for (const pid of listed.stdout.split('\n').filter((p) => /^\d+$/.test(p))) {
      const mb = await pss(pid);
      if (mb === undefined) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      // A process that exited meanwhile (a zombie has no command line).
      if (cmdline === '') continue;
      const kind = kindOf(cmdline.split('\0'));
      const sum = byKind.get(kind) ?? { processes: 0, mb: 0 };
      byKind.set(kind, { processes: sum.processes + 1, mb: sum.mb + mb });
    }
  }
  const sorted = [...byKind.entries()].sort((a, b) => b[1].mb - a[1].mb);
  return {
    totalMb: sorted.reduce((sum, [, k]) => sum + k.mb, 0),
    byKind: Object.fromEntries(sorted),
  };
}

/** "612 MB: mariadbd 257 (2), app (node) 180 (2), ..." */
export function describeMemory(memory: Memory): string {
  const kinds = Object.entries(memory.byKind).map(
    ([kind, k]) => `${kind} ${k.mb.toFixed(0)} (${k.processes})`,
  );
  return `${memory.totalMb.toFixed(0)} MB: ${kinds.join(', ')}`;
}
