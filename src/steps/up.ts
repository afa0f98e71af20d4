/**
 * `foobar up`: builds what is missing, restarts what is down, reloads what changed. On a healthy
 * lab every task finds its work done, so a second run is a quick no-op.
 */
import path from 'node:path';
import { hostsWithRole, type Host } from '../model/model.ts';
import { backendServers } from '../probes/haproxy.ts';
import { waitFor } from '../lib/wait.ts';
import type { BuiltRelease } from '../release/build.ts';
import type { Context } from './context.ts';
import { describeOutcomes, ensureDaemon } from './daemon.ts';
import { databasePhase } from './db/up.ts';
import { readDbState } from './db/state.ts';
import { healUnreached } from './db/changes.ts';
import { pushAppDbSettings } from './db/topology.ts';
import type { Phase, Task } from './plan.ts';
import { appendAudit } from './audit.ts';
import {
  buildApp,
  earlierBuild,
  installRelease,
  liveRelease,
  switchCurrent,
  verifyRelease,
} from './release.ts';
import { appDaemon, haproxyDaemon, keepalivedDaemon, nginxDaemon, nsdDaemon } from './services.ts';
import { describeHoldings, virtualAddressHolders } from '../probes/vrrp.ts';
import { liveSlot } from './slots.ts';
import { earlyPrometheusTasks, monitoringChecks, monitoringTasks } from './monitoring.ts';
import { ensureFirewall } from './firewall.ts';
import { etcdTasks, managerAccess, managerTasks } from './failover.ts';
import { backupTasks } from './backup.ts';
import { ensureCertificates, type SiteCertificate } from './tls.ts';
import { ensureAcmeCertificate, issuedAcmeBundle } from './acme.ts';
import { transitPhase } from './transit.ts';
import { logDaemons } from './logs.ts';

export interface UpOptions {
  /** The app to build when a web server has no release yet (default: this repository's app/). */
  readonly appDir?: string;
  /** Where to build it (default: the lab's builds directory); --dry-run builds elsewhere. */
  readonly buildsDir?: string;
  /** A dry run: no certificate is ordered from an ACME CA (`tls.acme`). */
  readonly offline?: boolean;
}

export function upPlan(ctx: Context, options: UpOptions = {}): Phase[] {
  const provision = ctx.platform.provision(ctx);
  const health = healthTasks(ctx);
  const managersAccess = managerAccess(ctx);
  let site: SiteCertificate | undefined;
  let built: Promise<BuiltRelease> | undefined;
  let audited: Promise<void> | undefined;
  const release = (): Promise<BuiltRelease> =>
    (built ??= buildApp(ctx, options.appDir, options.buildsDir));

  const webTask = (host: Host): Phase['tasks'][number] => ({
    title: host.name,
    run: async () => {
      const outcomes: Record<string, string> = {};
      let id = await liveRelease(ctx, host.name);
      if (id === undefined) {
        // A web server without a release gets the app of this checkout: the first release.
        const first = await release();
        outcomes.release = `${first.id} ${await installRelease(ctx, host.name, first)}`;
        await switchCurrent(ctx, host.name, first.id);
        id = first.id;
        audited ??= appendAudit(ctx, {
          action: 'first release',
          release: first.id,
          outcome: 'succeeded',
          seconds: 0,
        });
        await audited;
      } else if ((await verifyRelease(ctx, host.name, id)).length > 0) {
        // Its files differ from the manifest: put the release back as it was built.
        outcomes.release = `${id} repaired (${await installRelease(ctx, host.name, await earlierBuild(ctx, id, options.buildsDir))})`;
      }
      if (await pushAppDbSettings(ctx, host.name, await readDbState(ctx)))
        outcomes.database = 'settings written';
      const slot = await liveSlot(ctx, host.name);
      outcomes.app = await ensureDaemon(ctx, appDaemon(ctx, host, slot, id));
      outcomes.nginx = await ensureDaemon(ctx, nginxDaemon(ctx, host, slot));
      return describeOutcomes(outcomes);
    },
  });

  const databases = databasePhase(ctx, async () => {
    // The live release's migrations; on a fresh lab, those of the first release.
    const live = (
      await Promise.all(hostsWithRole(ctx.model, 'web').map((web) => liveRelease(ctx, web.name)))
    ).find((id) => id !== undefined);
    const dir =
      live === undefined
        ? (await release()).dir
        : (await earlierBuild(ctx, live, options.buildsDir)).dir;
    return path.join(dir, 'migrations');
  });

  return [
    { title: 'Preflight', tasks: provision.preflight },
    {
      ...provision.hosts,
      tasks: [
        ...provision.hosts.tasks,
        {
          title: 'certificate authority and site certificate',
          run: async () => {
            site = await ensureCertificates(ctx, options.offline === true);
            // With tls.acme, the load balancers keep the ACME CA's certificate once they have one.
            const issued = await issuedAcmeBundle(ctx);
            if (issued === undefined) return site.outcome;
            site = { ...site, bundle: issued };
            return site.outcome;
          },
        },
      ],
    },
    {
      title: 'Firewalls',
      tasks: ctx.model.hosts.map((host) => ({
        title: host.name,
        run: () => ensureFirewall(ctx, host),
      })),
    },
    transitPhase(ctx),
    {
      // Beside the databases, what needs only the network, and first what takes seconds to
      // settle by itself: Prometheus' first scrapes, etcd's members electing a leader.
      ...databases,
      title: 'Databases, DNS, etcd, Prometheus',
      tasks: [
        ...earlyPrometheusTasks(ctx),
        ...etcdTasks(ctx),
        ...databases.tasks,
        ...hostsWithRole(ctx.model, 'dns').map((host) => ({
          title: `${host.name} NSD`,
          run: async () => describeOutcomes({ nsd: await ensureDaemon(ctx, nsdDaemon(ctx, host)) }),
        })),
        ...hostsWithRole(ctx.model, 'mon').map((host) => ({
          title: `${host.name}: logs of every host under ${ctx.model.logs.maxMegabytesPerHost} MB`,
          run: async () => {
            const outcomes: Record<string, string> = {};
            for (const daemon of await logDaemons(ctx, host))
              outcomes[daemon.service] = await ensureDaemon(ctx, daemon);
            return describeOutcomes(outcomes);
          },
        })),
      ],
    },
    { title: 'Web servers', tasks: hostsWithRole(ctx.model, 'web').map(webTask) },
    {
      title: 'Load balancers',
      tasks: hostsWithRole(ctx.model, 'lb').map((host) => ({
        title: host.name,
        run: async () => {
          if (site === undefined)
            throw new Error('no site certificate: the Network phase did not run');
          return describeOutcomes({
            haproxy: await ensureDaemon(ctx, haproxyDaemon(ctx, host, site.bundle)),
            keepalived: await ensureDaemon(ctx, keepalivedDaemon(ctx, host)),
          });
        },
      })),
    },
    {
      // After the web servers and load balancers are in order: what the last change of primary
      // could not do on a host it could not reach, and that web server back in rotation.
      title: 'Failover leftovers',
      tasks: [
        {
          title: 'hosts the last change of primary could not reach',
          run: () => healUnreached(ctx),
        },
      ],
    },
    // With an ACME CA the site must be whole before the certificate is ordered; otherwise the
    // load balancers' health is checked last, with the monitor's, while the rest starts.
    ...(ctx.model.tls.acme === undefined
      ? []
      : [
          { title: 'Health', verifies: true, tasks: health },
          {
            title: 'Site certificate',
            tasks: [
              {
                // Needs the site whole: the CA asks a virtual address that DNS gives for each name.
                title: `from ${ctx.model.tls.acme.directory}`,
                run: () => ensureAcmeCertificate(ctx, options.offline === true),
              },
            ],
          },
        ]),
    ...[
      {
        // Each needs the databases and the web servers, none another.
        title: 'Failover managers, backups, monitoring',
        tasks: [
          ...managerTasks(ctx, managersAccess),
          ...backupTasks(ctx, managersAccess),
          ...monitoringTasks(ctx, {
            ...(options.buildsDir === undefined ? {} : { buildsDir: options.buildsDir }),
          }),
        ],
      },
    ].filter((phase) => phase.tasks.length > 0),
    ...[
      ctx.model.tls.acme === undefined
        ? { title: 'Health', verifies: true, tasks: [...health, ...monitoringChecks(ctx)] }
        : { title: 'Monitoring sees', verifies: true, tasks: monitoringChecks(ctx) },
    ].filter((phase) => phase.tasks.length > 0),
  ];
}

/** The load balancers see every web server up and hold their virtual addresses. */
function healthTasks(ctx: Context): Task[] {
  return [
    ...hostsWithRole(ctx.model, 'lb').map((lb) => ({
      title: `${lb.name} sees every web server up`,
      run: async () => {
        await waitFor(
          `${lb.name}: web servers`,
          async () => {
            const servers = await backendServers(ctx, lb.name);
            if ('error' in servers) return servers.error;
            const down = servers.filter((s) => !s.up).map((s) => `${s.name} ${s.status}`);
            return down.length === 0 ? undefined : down.join(', ');
          },
          { timeoutMs: 20_000 },
        );
        return 'all up';
      },
    })),
    {
      title: 'each virtual address held by its load balancer',
      run: async () => {
        // An owner takes its address after hearing the others and a healthy HAProxy: seconds.
        await waitFor(
          'the virtual addresses',
          async () => describeHoldings(await virtualAddressHolders(ctx)) || undefined,
          { timeoutMs: 20_000 },
        );
        const held = ctx.model.vrrp.virtualAddresses
          .map((vip) => `${vip.address} on ${vip.owner}`)
          .join(', ');
        return `all held by their owners (${held})`;
      },
    },
  ];
}
