/**
 * `foobar down`: stops every daemon, then the platform takes down what it built (the lab: sweeps
 * any other process out of its namespaces, deletes the namespaces and links). `--purge` also
 * deletes the state directory (database files, releases, secrets).
 */
import { labPaths, sharedState } from '../model/layout.ts';
import type { Context } from './context.ts';
import { stopDaemons } from './daemon.ts';
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
          // Together: on machines each stop was three systemctl calls of its own (its state,
          // the stop, the disable), 2.6-3.0 s a load balancer even side by side; one batch is
          // three for the host.
          const daemons = await daemonsOf(ctx, host, true);
          const ran = await stopDaemons(ctx, host.name, daemons);
          const stopped = daemons.filter((_, i) => ran[i] === true).map((d) => d.service);
          // The progress shows the host's time beside this.
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
                  await purgeState(ctx);
                  return 'deleted (database files, releases, secrets)';
                },
              },
            ],
          },
        ]
      : []),
  ];
}

/**
 * Deletes the state directory but the lock this `down` holds there: its heartbeat writes in it
 * until the end, and a write would make it again under a deletion (which then failed once with
 * ENOTEMPTY). The lock goes when it is released, and the emptied directory after that
 * (removeEmptyState).
 */
export async function purgeState(ctx: Context): Promise<void> {
  const { state } = labPaths(ctx.model);
  const { host, lock } = sharedState(ctx.model);
  const found = await ctx.driver.exec(
    null,
    { argv: ['find', state, '-mindepth', '1', '-maxdepth', '1'], readOnly: true },
    { check: false },
  );
  const entries = found.stdout
    .split('\n')
    .filter((entry) => entry !== '' && !(host === null && entry === lock));
  await Promise.all(entries.map((entry) => ctx.driver.remove(null, entry)));
}

/**
 * After `down --purge` released the lock: the state directory it emptied, unless another command
 * took the lock (and so made the directory again) meanwhile.
 */
export async function removeEmptyState(ctx: Context): Promise<void> {
  await ctx.driver.exec(
    null,
    { argv: ['rmdir', '--ignore-fail-on-non-empty', labPaths(ctx.model).state] },
    { check: false },
  );
}
