/**
 * The lab: every host a network namespace on this machine, joined by bridges in a switch
 * namespace; daemons tracked by pid files; every host's files under the lab's state directory.
 */
import { stat } from 'node:fs/promises';
import { ip } from '../../commands/ip.ts';
import { proc } from '../../commands/proc.ts';
import type { Driver } from '../../drivers/driver.ts';
import { NetnsDriver } from '../../drivers/netns.ts';
import { sleep } from '../../lib/wait.ts';
import { labNames, labNamespaces } from '../../model/lab.ts';
import { labPaths } from '../../model/layout.ts';
import type { Model } from '../../model/model.ts';
import type { Context } from '../../steps/context.ts';
import type { Platform } from '../platform.ts';
import { ensureAdminLink, ensureHostNetwork, ensureSwitch, existingNamespaces } from './network.ts';
import { preflightProblems } from './preflight.ts';
import { processState } from './process.ts';
import { readLabRecord, recordLab, removeLabRecord } from './record.ts';
import { ensureResolvers, removeResolvers, resolverFiles } from './resolver.ts';
import { pidFileSupervisor } from './supervisor.ts';

/** Runs commands inside the hosts' namespaces (this machine itself for the `null` target). */
export function netnsDriverFor(model: Model): Driver {
  const names = labNames(model);
  return new NetnsDriver((host) => names.namespaceOf(host));
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

/** Copies this checkout's Node.js where the hosts' unprivileged users can run it. */
async function ensureRuntime(ctx: Context): Promise<string> {
  // A stamp beside the copy says which binary it is, so a second run need not run it.
  const runtime = labPaths(ctx.model).runtime;
  const want = `${process.version} ${(await stat(ctx.nodeBinary)).size}\n`;
  if ((await ctx.driver.readFile(null, `${runtime}.stamp`)) === want) return 'up to date';
  await ctx.driver.copyFile(null, ctx.nodeBinary, runtime);
  await ctx.driver.writeFile(null, `${runtime}.stamp`, want);
  return `Node.js ${process.version}`;
}

export function labPlatform(driver: Driver): Platform {
  return {
    kind: 'lab',
    driver,
    supervisor: pidFileSupervisor,
    provision(ctx) {
      let existing = new Set<string>();
      return {
        preflight: [
          {
            title: 'this machine',
            run: async () => {
              existing = await existingNamespaces(ctx);
              const problems = await preflightProblems(ctx, existing);
              if (problems.length > 0) throw new Error(problems.join('\n'));
              return 'ready';
            },
          },
        ],
        hosts: {
          title: 'Network',
          tasks: [
            {
              title: `namespaces, ${Object.keys(ctx.model.networks).join(' and ')} networks`,
              run: async () => {
                let created = (await ensureSwitch(ctx, existing)) ? 1 : 0;
                // The namespaces there are only checked: all at once (an `ip` each). Those
                // missing are made one after the other, as their links join one switch.
                const there = (host: string): boolean => existing.has(ctx.names.namespaceOf(host));
                const hosts = ctx.model.hosts.map((host) => host.name);
                await Promise.all(
                  hosts.filter(there).map((host) => ensureHostNetwork(ctx, host, existing)),
                );
                for (const host of hosts.filter((h) => !there(h))) {
                  if (await ensureHostNetwork(ctx, host, existing)) created++;
                }
                const admin = await ensureAdminLink(ctx);
                await recordLab(ctx, resolverFiles(ctx));
                const resolved = await ensureResolvers(ctx);
                if (created === 0 && !admin && !resolved.changed) return 'up to date';
                const parts = [`${created} namespaces created`];
                if (admin) parts.push(`this machine on the edge as ${ctx.model.admin.edge}`);
                if (resolved.changed) parts.push(`clients resolve through the lab's DNS`);
                return parts.join(', ');
              },
            },
            { title: 'app runtime', run: () => ensureRuntime(ctx) },
          ],
        },
      };
    },
    teardown(ctx) {
      return {
        title: 'Network',
        tasks: [
          {
            title: 'namespaces and links',
            run: async () => {
              const existing = await existingNamespaces(ctx);
              const record = await readLabRecord(ctx);
              const ours = new Set([...(record?.namespaces ?? []), ...labNamespaces(ctx.model)]);
              const namespaces = [...ours].filter((ns) => existing.has(ns));
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
      };
    },
    async built(ctx) {
      return (await readLabRecord(ctx)) !== undefined;
    },
    async present(ctx) {
      const existing = await existingNamespaces(ctx);
      return (host) => existing.has(ctx.names.namespaceOf(host));
    },
  };
}
