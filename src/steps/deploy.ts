/**
 * `foobar deploy` and `foobar rollback`: the same release on every web server, switched together
 * (parallel) or one server at a time (rolling), with zero failed requests.
 *
 * 1. Sync: the release is copied to every web server and each copy is checked against its
 *    manifest. A bad copy stops the deploy before anything switches.
 * 2. Migrate: the release's new migrations run once, on the primary, while the old release still
 *    serves (so they must be backward compatible with it).
 * 3. Start: each server starts the release in its idle app slot and waits for its readiness check.
 *    A release that does not become ready stops here: no server has switched.
 * 4. Switch: Nginx is pointed at the new slot (a graceful reload; old workers finish with the old
 *    app), `current` follows. Rolling drains each server from every load balancer first; parallel
 *    switches them together, their Nginx reloaded one at a time (ensureDaemon). If any
 *    server fails to switch, every server is switched back: none is left on another release.
 * 5. Finish: the old app processes drain and exit; old releases are pruned.
 */
import path from 'node:path';
import { hostsWithRole, type Host } from '../model/model.ts';
import { httpRequest } from '../probes/http.ts';
import { pruneBuilds, type BuiltRelease } from '../release/build.ts';
import { appendAudit } from './audit.ts';
import { applyMigrations, loadMigrations } from './db/migrations.ts';
import { primaryHost, readDbState } from './db/state.ts';
import type { Context } from './context.ts';
import { ensureDaemon, runningPid, startDaemon, stopDaemon, writeFiles } from './daemon.ts';
import { PlanError, runPlan, type Phase, type PlanReporter } from './plan.ts';
import { installRelease, liveRelease, switchCurrent } from './release.ts';
import { KEEP_BUILDS, pruneReleases } from './releases.ts';
import { drain, restore } from './rotation.ts';
import { appDaemon, nginxDaemon } from './services.ts';
import { liveSlot, otherSlot, setLiveSlot, slotPort, type Slot } from './slots.ts';

export const STRATEGIES = ['parallel', 'rolling'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface DeployRequest {
  readonly action: 'deploy' | 'rollback';
  readonly strategy: Strategy;
  /** Resolves to the release to put live (built from sources, or an earlier build). */
  readonly release: () => Promise<BuiltRelease>;
}

export interface DeployResult {
  readonly release: string;
  /** Web server → the release it served before. */
  readonly previous: Readonly<Record<string, string | undefined>>;
  /** False when the release was already live everywhere. */
  readonly changed: boolean;
  readonly seconds: number;
}

export class DeployError extends Error {
  override name = 'DeployError';
}

interface ServerState {
  readonly host: Host;
  readonly slot: Slot;
  readonly release: string | undefined;
}

/** The release an app answers as, at a URL on the server itself (undefined on any error). */
async function releaseAt(ctx: Context, host: string, url: string): Promise<string | undefined> {
  const result = await httpRequest(ctx.driver, host, url);
  if ('error' in result || result.status !== 200) return undefined;
  try {
    return (JSON.parse(result.body) as { release?: string }).release;
  } catch {
    return undefined;
  }
}

async function switchServer(ctx: Context, server: ServerState, release: string): Promise<void> {
  const slot = otherSlot(server.slot);
  await ensureDaemon(ctx, nginxDaemon(ctx, server.host, slot));
  // Proof of the switch: through Nginx, the server now answers as the new release.
  const served = await releaseAt(
    ctx,
    server.host.name,
    `http://127.0.0.1:${ctx.model.ports.http}/api/whoami`,
  );
  if (served !== release) {
    throw new Error(`after the switch Nginx serves release ${served ?? 'nothing'}, not ${release}`);
  }
  await switchCurrent(ctx, server.host.name, release);
  await setLiveSlot(ctx, server.host.name, slot);
}

/** Puts a server back as it was: Nginx on its old slot (whose app still runs), `current` too. */
async function switchBack(ctx: Context, server: ServerState): Promise<void> {
  await ensureDaemon(ctx, nginxDaemon(ctx, server.host, server.slot));
  if (server.release !== undefined) await switchCurrent(ctx, server.host.name, server.release);
  await setLiveSlot(ctx, server.host.name, server.slot);
}

function describeFailure(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One line for the audit log: the failing tasks and their first line each. */
function summarize(error: unknown): string {
  if (error instanceof PlanError) {
    return error.failures
      .map((f) => `${f.task}: ${f.error.message.split('\n')[0] ?? ''}`)
      .join('; ');
  }
  return describeFailure(error).split('\n')[0] ?? '';
}

export async function deploy(
  ctx: Context,
  request: DeployRequest,
  reporter?: PlanReporter,
): Promise<DeployResult> {
  const started = Date.now();
  const webs = hostsWithRole(ctx.model, 'web');
  const servers: ServerState[] = await Promise.all(
    webs.map(async (host) => ({
      host,
      slot: await liveSlot(ctx, host.name),
      release: await liveRelease(ctx, host.name),
    })),
  );
  const previous = Object.fromEntries(servers.map((s) => [s.host.name, s.release]));
  const seconds = (): number => (Date.now() - started) / 1000;
  let release: BuiltRelease | undefined;
  const id = (): string => release?.id ?? '?';
  const audit = async (
    outcome: 'succeeded' | 'failed' | 'rolled back',
    detail?: string,
  ): Promise<void> => {
    const before = [...new Set(servers.map((s) => s.release ?? 'none'))].join(',');
    await appendAudit(ctx, {
      action: request.action,
      release: id(),
      previous: before,
      strategy: request.strategy,
      outcome,
      ...(detail === undefined ? {} : { detail }),
      seconds: seconds(),
    });
  };

  await runPlan(
    [
      {
        title: request.action === 'deploy' ? 'Build' : 'Release',
        tasks: [
          {
            title: 'release',
            run: async () => {
              release = await request.release();
              return `${release.id}${release.fresh ? ' built' : ''}, ${Object.keys(release.manifest.files).length} files`;
            },
          },
        ],
      },
    ],
    reporter,
  );
  const target = release;
  if (target === undefined) throw new Error('no release');

  const everywhere = await Promise.all(
    servers.map(
      async (s) =>
        s.release === target.id &&
        (await runningPid(ctx, appDaemon(ctx, s.host, s.slot, target.id))) !== undefined,
    ),
  );
  if (everywhere.every(Boolean)) {
    return { release: target.id, previous, changed: false, seconds: seconds() };
  }

  const prepare: Phase[] = [
    {
      title: 'Sync',
      tasks: servers.map((s) => ({
        title: s.host.name,
        run: async () => `${await installRelease(ctx, s.host.name, target)}, checksums match`,
      })),
    },
    {
      title: 'Migrate',
      tasks: [
        {
          title: 'schema on the primary',
          run: async () => {
            // Before any switch, while the old release serves: migrations must suit both releases.
            const primary = primaryHost(ctx, await readDbState(ctx)).name;
            const migrations = await loadMigrations(path.join(target.dir, 'migrations'));
            const applied = await applyMigrations(ctx, primary, migrations);
            return `${primary}: ${applied.length === 0 ? 'up to date' : `${applied.join(', ')} applied`}`;
          },
        },
      ],
    },
    {
      title: 'Start',
      tasks: servers.map((s) => ({
        title: `${s.host.name} (${otherSlot(s.slot)} slot, port ${slotPort(ctx.model, otherSlot(s.slot))})`,
        run: async () => {
          const next = appDaemon(ctx, s.host, otherSlot(s.slot), target.id);
          await stopDaemon(ctx, next);
          // Its settings too (the slot's env file): without them the next up found the file
          // missing and restarted every app.
          await writeFiles(ctx, s.host.name, next.files);
          await startDaemon(ctx, next);
          // Ready is not enough: it must also answer as the release it claims to be.
          const port = slotPort(ctx.model, otherSlot(s.slot));
          const served = await releaseAt(ctx, s.host.name, `http://127.0.0.1:${port}/api/whoami`);
          if (served !== target.id)
            throw new Error(`ready, but /api/whoami answers ${served ?? 'an error'}`);
          return 'ready, answers as the new release';
        },
      })),
    },
  ];
  try {
    await runPlan(prepare, reporter);
  } catch (error) {
    await Promise.all(
      servers.map((s) => stopDaemon(ctx, appDaemon(ctx, s.host, otherSlot(s.slot), target.id))),
    );
    await audit('failed', summarize(error));
    throw new DeployError(
      `${request.action} of release ${target.id} stopped before any server switched: ${describeFailure(error)}\n` +
        `Every web server still serves what it served before (${[...new Set(servers.map((s) => s.release))].join(', ')}).`,
      { cause: error },
    );
  }

  const switched = new Set<ServerState>();
  const drained = new Set<ServerState>();
  const switchTask = (s: ServerState): Phase['tasks'][number] => ({
    title: s.host.name,
    run: async () => {
      if (request.strategy === 'rolling') {
        drained.add(s);
        await drain(ctx, s.host.name);
      }
      switched.add(s);
      await switchServer(ctx, s, target.id);
      if (request.strategy === 'rolling') {
        await restore(ctx, s.host.name);
        drained.delete(s);
      }
      return `serving ${target.id} from the ${otherSlot(s.slot)} slot`;
    },
  });
  const switchPhases: Phase[] =
    request.strategy === 'parallel'
      ? [{ title: 'Switch (all servers together)', tasks: servers.map(switchTask) }]
      : servers.map((s) => ({
          title: `Switch ${s.host.name} (drained from the load balancers)`,
          tasks: [switchTask(s)],
        }));
  try {
    await runPlan(switchPhases, reporter);
  } catch (error) {
    const problems: string[] = [];
    for (const s of switched) {
      await switchBack(ctx, s).catch((e: unknown) =>
        problems.push(`${s.host.name}: ${describeFailure(e)}`),
      );
    }
    for (const s of drained) {
      await restore(ctx, s.host.name).catch((e: unknown) =>
        problems.push(`${s.host.name}: ${describeFailure(e)}`),
      );
    }
    await Promise.all(
      servers.map((s) => stopDaemon(ctx, appDaemon(ctx, s.host, otherSlot(s.slot), target.id))),
    );
    await audit('rolled back', summarize(error));
    const after =
      problems.length === 0
        ? 'Every web server is back on the release it served before.'
        : `Switching back failed too, run foobar status:\n  ${problems.join('\n  ')}`;
    throw new DeployError(
      `${request.action} of release ${target.id} failed while switching: ${describeFailure(error)}\n${after}`,
      {
        cause: error,
      },
    );
  }

  const onServers = new Set<string>([target.id]);
  await runPlan(
    [
      {
        title: 'Finish',
        tasks: servers.map((s) => ({
          title: s.host.name,
          run: async () => {
            await stopDaemon(ctx, appDaemon(ctx, s.host, s.slot, s.release ?? 'none'));
            const keep = new Set([target.id, ...(s.release === undefined ? [] : [s.release])]);
            const { removed, left } = await pruneReleases(ctx, s.host.name, keep);
            for (const id of left) onServers.add(id);
            return `old app drained and stopped${removed.length > 0 ? `, pruned ${removed.join(', ')}` : ''}`;
          },
        })),
      },
    ],
    reporter,
  );
  // This machine's builds: those of every release a web server still holds, and the newest.
  await pruneBuilds(path.dirname(target.dir), onServers, KEEP_BUILDS);
  await audit('succeeded');
  return { release: target.id, previous, changed: true, seconds: seconds() };
}
