/**
 * `foobar down`: stops every daemon, then the platform takes down what it built (the lab: sweeps
 * any other process out of its namespaces, deletes the namespaces and links). `--purge` also
 * deletes the state directory (database files, releases, secrets).
 */
import { labPaths } from '../model/layout.ts';
import type { Context } from './context.ts';
import { stopDaemon } from './daemon.ts';
import type { Phase } from './plan.ts';
import { daemonsOf } from './services.ts';
import { stopManagers } from './failover.ts';
import { revokeManagerAccess } from './failover-access.ts';
import { failoverMembers } from '../model/failover.ts';
import { backupHost } from '../model/backup.ts';
import { BACKUP_AGENT_ACCESS } from './backup-access.ts';
import { revokeAccess } from './ssh-access.ts';

export interface DownOptions {
  readonly purge?: boolean;
}

export function downPlan(ctx: Context, options: DownOptions = {}): Phase[] {
  return [
    {
      // Before anything else: a database stopping must not look like a failure to fail over.
      title: 'Failover managers',
      tasks: [
        {
          title: 'every member',
          run: async () => {
            const stopped = await stopManagers(ctx);
            // On machines they acted over SSH with a key of their own: it goes with them.
            return ctx.platform.kind === 'machines' && failoverMembers(ctx.model).length > 0
              ? `${stopped}; ${await revokeManagerAccess(ctx)}`
              : stopped;
          },
        },
      ],
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
    // On machines the backup agent, stopped above, acted over SSH with a key of its own too.
    ...(ctx.platform.kind === 'machines' && backupHost(ctx.model) !== undefined
      ? [
          {
            title: 'Backup agent’s SSH access',
            tasks: [{ title: 'revoke', run: () => revokeAccess(ctx, BACKUP_AGENT_ACCESS) }],
          },
        ]
      : []),
    ctx.platform.teardown(ctx),
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
