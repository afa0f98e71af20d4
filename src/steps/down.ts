/**
 * `foobar down`: stops every daemon by its PID, sweeps any other process out of the lab's
 * namespaces, deletes the namespaces and links. `--purge` also deletes the state directory
 * (database files, releases, secrets).
 */
import { ip } from '../commands/ip.ts';
import { proc } from '../commands/proc.ts';
import { labNamespaces } from '../model/lab.ts';
import { labPaths } from '../model/layout.ts';
import { sleep } from '../lib/wait.ts';
import { processState } from '../probes/process.ts';
import type { Context } from './context.ts';
import { stopDaemon } from './daemon.ts';
import { existingNamespaces } from './network.ts';
import type { Phase } from './plan.ts';
import { readLabRecord, removeLabRecord } from './record.ts';
import { removeResolvers, resolverFiles } from './resolver.ts';
import { daemonsOf } from './services.ts';
import { stopManagers } from './failover.ts';

export interface DownOptions {
  readonly purge?: boolean;
}

async function pidsIn(ctx: Context, ns: string): Promise<number[]> {
  const result = await ctx.driver.exec(null, ip.netnsPids(ns), { check: false });
  return result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(Number);
}

async function alive(ctx: Context, pid: number): Promise<boolean> {
  const state = await processState(ctx.driver, null, pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** Ends every process left inside a namespace: SIGTERM, then SIGKILL after a grace period. */
async function sweep(ctx: Context, ns: string): Promise<number> {
  const pids = await pidsIn(ctx, ns);
  for (const pid of pids) await ctx.driver.exec(null, proc.kill('TERM', pid), { check: false });
  const deadline = Date.now() + 5000;
  let left = pids;
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = (
      await Promise.all(left.map(async (pid) => ((await alive(ctx, pid)) ? [pid] : [])))
    ).flat();
  }
  for (const pid of left) await ctx.driver.exec(null, proc.kill('KILL', pid), { check: false });
  return pids.length;
}

export function downPlan(ctx: Context, options: DownOptions = {}): Phase[] {
  let namespaces: string[] = [];
  return [
    {
      // Before anything else: a database stopping must not look like a failure to fail over.
      title: 'Failover managers',
      tasks: [{ title: 'every member', run: () => stopManagers(ctx) }],
    },
    {
      title: 'Services',
      tasks: ctx.model.hosts.map((host) => ({
        title: host.name,
        run: async () => {
          const stopped: string[] = [];
          // Front to back: load balancers stop taking traffic before what is behind them stops.
          for (const daemon of await daemonsOf(ctx, host, true)) {
            if (await stopDaemon(ctx, daemon)) stopped.push(daemon.service);
          }
          return stopped.length === 0 ? 'nothing running' : `stopped ${stopped.join(', ')}`;
        },
      })),
    },
    {
      title: 'Network',
      tasks: [
        {
          title: 'namespaces and links',
          run: async () => {
            const existing = await existingNamespaces(ctx);
            const record = await readLabRecord(ctx);
            const ours = new Set([...(record?.namespaces ?? []), ...labNamespaces(ctx.model)]);
            namespaces = [...ours].filter((ns) => existing.has(ns));
            let swept = 0;
            for (const ns of namespaces) swept += await sweep(ctx, ns);
            for (const ns of namespaces) await ctx.driver.exec(null, ip.netnsDelete(ns));
            // Deleting the switch namespace deletes this machine's end of the edge link with it.
            const link = await ctx.driver.exec(null, ip.linkDelete(null, ctx.names.adminLink), {
              check: false,
            });
            const netnsFiles = [...(record?.netnsFiles ?? []), ...resolverFiles(ctx)];
            await removeResolvers(ctx, [...new Set(netnsFiles)]);
            await removeLabRecord(ctx);
            const parts = [`${namespaces.length} namespaces deleted`];
            if (swept > 0) parts.push(`${swept} stray processes ended`);
            if (link.exitCode === 0) parts.push(`${ctx.names.adminLink} removed`);
            return parts.join(', ');
          },
        },
      ],
    },
    ...(options.purge === true
      ? [
          {
            title: 'State',
            tasks: [
              {
                title: labPaths(ctx.model).state,
                run: async () => {
                  await ctx.driver.remove(null, labPaths(ctx.model).state);
                  return 'deleted (database files, releases, secrets)';
                },
              },
            ],
          },
        ]
      : []),
  ];
}
