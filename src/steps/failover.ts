/**
 * Automatic failover in `up`, `down`, `db status` and `db failover pause|resume`: an etcd member
 * and a failover manager on every failover member (lb and mon hosts), both Daemons like the
 * others. The CLI reaches etcd through the driver (curl on a member host, to its loopback), the
 * managers reach it directly from their hosts.
 */
import os from 'node:os';
import path from 'node:path';
import { curl, parseCurlOutput } from '../commands/curl.ts';
import { etcd } from '../commands/etcd.ts';
import { Etcd, EtcdUnavailable, type EtcdTransport } from '../failover/etcd.ts';
import { freshForMs, type Observation, type Pause } from '../failover/judge.ts';
import { renderManagerConfig } from '../failover/config.ts';
import {
  parseLastAutomatic,
  parseObservation,
  parsePause,
  parseRearmed,
  parseTopology,
  readFailoverRecords,
} from '../failover/records.ts';
import {
  etcdClientUrl,
  etcdInitialCluster,
  etcdPeerUrl,
  failoverKeys,
  failoverMembers,
  isFailoverMember,
  quorumOf,
} from '../model/failover.ts';
import { hostPaths } from '../model/layout.ts';
import { DAEMON_ENV, daemonCommand, daemonsKey } from '../release/daemons.ts';
import { addressOf, type Host } from '../model/model.ts';
import { scrapedAs } from '../model/monitoring.ts';
import { scrapedProbe } from './monitoring.ts';
import { expectStatus } from '../probes/http.ts';
import { appendAudit } from './audit.ts';
import type { Context } from './context.ts';
import {
  describeOutcomes,
  ensureDaemon,
  GO_DAEMON_ENV,
  once,
  stopDaemon,
  type Daemon,
} from './daemon.ts';
import { ensureManagerAccess } from './failover-access.ts';
import type { Task } from './plan.ts';
import { installDaemons } from './release.ts';

/** etcd's raft timings for a lab on one machine: a lost leader is replaced within about a second. */
const ETCD_HEARTBEAT_MS = 100;
const ETCD_ELECTION_MS = 1000;

export function etcdDaemon(ctx: Context, host: Host): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const dataDir = path.join(paths.data, 'etcd');
  const client = `http://127.0.0.1:${ctx.model.ports.etcdClient}`;
  return {
    service: 'etcd',
    host: host.name,
    pidFile: path.join(paths.run, 'etcd.pid'),
    marker: `--data-dir=${dataDir}`,
    files: [],
    dirs: [paths.run, paths.log, paths.data],
    start: etcd.start({
      name: host.name,
      dataDir,
      peerUrl: etcdPeerUrl(ctx.model, host),
      clientUrls: [etcdClientUrl(ctx.model, host), client],
      advertiseClientUrl: etcdClientUrl(ctx.model, host),
      initialCluster: etcdInitialCluster(ctx.model),
      clusterToken: `foobar-${ctx.model.lab.name}`,
      heartbeatMs: ETCD_HEARTBEAT_MS,
      electionMs: ETCD_ELECTION_MS,
    }),
    env: GO_DAEMON_ENV,
    outputLog: path.join(paths.log, 'etcd.log'),
    stopSignal: 'TERM',
    ports: [ctx.model.ports.etcdClient, ctx.model.ports.etcdPeer],
    // Healthy once the members have elected a leader: the three start together.
    probe: (c) => expectStatus(c.driver, host.name, `${client}/health`),
    logs: [],
    startTimeoutMs: 30_000,
  };
}

export function managerConfigFile(ctx: Context, host: Host): string {
  return path.join(hostPaths(ctx.model, host.name).etc, 'failover-manager.json');
}

/** The failover manager: its bundle (src/release/daemons.ts) on the platform's Node.js, as root. */
export function managerDaemon(ctx: Context, host: Host): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const config = managerConfigFile(ctx, host);
  const rendered = once(() => [
    { path: config, content: renderManagerConfig(host.name, ctx.model) },
    // It runs this checkout's code: a changed checkout restarts it, as a changed config does.
    { path: `${config}.code`, content: `${daemonsKey()}\n` },
  ]);
  const start = once(() => daemonCommand(ctx.model, 'failover-manager', [config]));
  return {
    service: 'failover-manager',
    host: host.name,
    pidFile: path.join(paths.run, 'failover-manager.pid'),
    marker: config,
    get files() {
      return rendered();
    },
    dirs: [paths.etc, paths.run, paths.log],
    prepare: async (c) => {
      await installDaemons(c, host.name);
    },
    get start() {
      return start();
    },
    env: DAEMON_ENV,
    outputLog: path.join(paths.log, 'failover-manager.log'),
    stopSignal: 'TERM',
    ports: [ctx.model.ports.failoverMetrics],
    ...scrapedAs('failoverMetrics'),
    probe: scrapedProbe(host, 'failoverMetrics', '/healthz'),
    logs: [],
  };
}

/** The failover daemons of a host, in the order to stop them (the manager before its etcd). */
export function failoverDaemons(ctx: Context, host: Host): Daemon[] {
  if (!isFailoverMember(host)) return [];
  return [managerDaemon(ctx, host), etcdDaemon(ctx, host)];
}

/**
 * etcd on every member at once (they elect a leader together): tasks that need only the network,
 * so `up` runs them beside the databases.
 */
export function etcdTasks(ctx: Context): Task[] {
  return failoverMembers(ctx.model).map((host) => ({
    title: `${host.name} etcd`,
    run: async () => describeOutcomes({ etcd: await ensureDaemon(ctx, etcdDaemon(ctx, host)) }),
  }));
}

/**
 * On machines, the managers' SSH access to the hosts they act on (steps/failover-access.ts),
 * once the databases have their passwords: made once however often it is called.
 */
export function managerAccess(ctx: Context): () => Promise<string> {
  let access: Promise<string> | undefined;
  return () =>
    (access ??=
      ctx.platform.kind === 'machines' ? ensureManagerAccess(ctx) : Promise.resolve('none'));
}

/** The managers, once etcd (`etcdTasks`), the databases and the web servers are up. */
export function managerTasks(ctx: Context, granted = managerAccess(ctx)): Task[] {
  const members = failoverMembers(ctx.model);
  if (members.length === 0) return [];
  return [
    ...(ctx.platform.kind === 'machines'
      ? [{ title: 'failover managers’ SSH access', run: granted }]
      : []),
    ...members.map((host) => ({
      title: `${host.name} failover manager`,
      run: async () => {
        try {
          await granted();
        } catch {
          throw new Error('not started: the managers’ SSH access failed');
        }
        return describeOutcomes({
          'failover manager': await ensureDaemon(ctx, managerDaemon(ctx, host)),
        });
      },
    })),
  ];
}

/** Stops every manager before anything else stops: a database going down must not be failed over. */
export async function stopManagers(ctx: Context): Promise<string> {
  const stopped = await Promise.all(
    failoverMembers(ctx.model).map((host) => stopDaemon(ctx, managerDaemon(ctx, host))),
  );
  const count = stopped.filter(Boolean).length;
  return count === 0 ? 'none running' : `${count} stopped`;
}

/** etcd from this machine: curl on each member host in turn, to its own loopback. */
export function driverTransport(ctx: Context): EtcdTransport {
  const members = failoverMembers(ctx.model);
  return {
    where: members.map((m) => m.name).join(', '),
    async post(gatewayPath, body) {
      const errors: string[] = [];
      for (const host of members) {
        const url = `http://127.0.0.1:${ctx.model.ports.etcdClient}${gatewayPath}`;
        const result = await ctx.driver.exec(
          host.name,
          curl.request(url, {
            method: 'POST',
            body: JSON.stringify(body),
            timeoutSeconds: 1,
            headers: ['content-type: application/json'],
          }),
          { check: false },
        );
        const answer = parseCurlOutput(result.stdout);
        if (result.exitCode === 0 && answer.status === 200)
          return JSON.parse(answer.body) as unknown;
        errors.push(
          `${host.name}: ${answer.status === 0 ? result.stderr.trim() : `HTTP ${answer.status}`}`,
        );
      }
      throw new EtcdUnavailable(`etcd did not answer (${errors.join('; ')})`);
    },
  };
}

export function labEtcd(ctx: Context): Etcd {
  return new Etcd(driverTransport(ctx));
}

function operator(): string {
  return process.env.SUDO_USER ?? os.userInfo().username;
}

/** `db failover pause`: no automatic failover until resumed (the managers keep watching). */
export async function pauseFailover(ctx: Context, reason: string): Promise<Pause> {
  const pause: Pause = { by: operator(), reason, at: new Date().toISOString() };
  await labEtcd(ctx).put({ key: failoverKeys(ctx.model).pause, value: JSON.stringify(pause) });
  await appendAudit(ctx, {
    action: 'failover paused',
    outcome: 'succeeded',
    detail: reason,
    seconds: 0,
  });
  return pause;
}

/** `db failover resume`: lifts a pause, and ends an anti-flap hold (the operator has looked). */
export async function resumeFailover(ctx: Context): Promise<void> {
  const keys = failoverKeys(ctx.model);
  const client = labEtcd(ctx);
  await client.delete(keys.pause);
  await client.put({
    key: keys.rearmed,
    value: JSON.stringify({ at: Date.now(), by: operator() }),
  });
  await appendAudit(ctx, { action: 'failover resumed', outcome: 'succeeded', seconds: 0 });
}

export interface ObserverView {
  readonly manager: string;
  readonly reachable: boolean;
  readonly failingForMs: number;
  readonly detail: string;
  readonly ageMs: number;
  readonly epoch: number;
  /** What the web servers said when this manager asked them (load balancers' managers only). */
  readonly webServers?: { readonly cutForMs: number; readonly detail: string };
}

export interface FailoverView {
  /** etcd answered with a quorum. */
  readonly etcd: boolean;
  readonly members: readonly { readonly name: string; readonly healthy: boolean }[];
  readonly leader: string | null;
  readonly automatic: boolean;
  readonly armed: boolean;
  /** Why it would not fail over now ("" when armed). */
  readonly pausedBecause: string;
  readonly topology: {
    readonly epoch: number;
    readonly primary: string;
    readonly by: string;
  } | null;
  readonly lastAutomatic: {
    readonly at: string;
    readonly from: string;
    readonly to: string;
  } | null;
  readonly observers: readonly ObserverView[];
}

async function memberHealthy(ctx: Context, host: Host): Promise<boolean> {
  return (
    (await expectStatus(
      ctx.driver,
      host.name,
      `http://${addressOf(host, 'core')}:${ctx.model.ports.etcdClient}/health`,
    )) === undefined
  );
}

/** The managers' view, as etcd holds it; without etcd's quorum, says so. */
export async function failoverStatus(ctx: Context): Promise<FailoverView> {
  const keys = failoverKeys(ctx.model);
  const members = failoverMembers(ctx.model);
  const health = await Promise.all(members.map((m) => memberHealthy(ctx, m)));
  const memberViews = members.map((m, i) => ({ name: m.name, healthy: health[i] === true }));
  const client = labEtcd(ctx);
  const settings = ctx.model.failover;
  try {
    const {
      leader,
      pause,
      lastAutomatic: last,
      topology,
      observations,
      rearmed,
    } = await readFailoverRecords(client, keys);
    const rearmedAt = rearmed === undefined ? 0 : (parseRearmed(rearmed.value)?.at ?? 0);
    const now = Date.now();
    const seen = observations
      .map((kv) => parseObservation(kv.value))
      .filter((o): o is Observation => o !== undefined);
    const paused = pause === undefined ? undefined : parsePause(pause.value);
    const lastAutomatic = last === undefined ? undefined : parseLastAutomatic(last.value);
    const until =
      lastAutomatic === undefined || lastAutomatic.at <= rearmedAt
        ? 0
        : lastAutomatic.at + settings.antiFlapSeconds * 1000;
    const reasons = [
      ...(settings.automatic ? [] : ['automatic failover is off (failover.automatic)']),
      ...(paused === undefined
        ? []
        : [
            `paused by ${paused.by} since ${paused.at}${paused.reason === '' ? '' : `: ${paused.reason}`}`,
          ]),
      ...(now < until && lastAutomatic !== undefined
        ? [
            `anti-flap after ${lastAutomatic.from} → ${lastAutomatic.to}: no automatic failover until ${new Date(until).toISOString()}`,
          ]
        : []),
      ...(leader === undefined ? ['no manager leads (are the failover managers running?)'] : []),
    ];
    const parsedTopology = topology === undefined ? undefined : parseTopology(topology.value);
    return {
      etcd: true,
      members: memberViews,
      leader: leader?.value ?? null,
      automatic: settings.automatic,
      armed: reasons.length === 0,
      pausedBecause: reasons.join('; '),
      topology: parsedTopology ?? null,
      lastAutomatic:
        lastAutomatic === undefined
          ? null
          : {
              at: new Date(lastAutomatic.at).toISOString(),
              from: lastAutomatic.from,
              to: lastAutomatic.to,
            },
      observers: seen
        .map((o) => ({
          manager: o.manager,
          reachable: o.reachable,
          failingForMs: o.failingForMs,
          detail: o.detail,
          ageMs: now - o.at,
          epoch: o.epoch,
          ...(o.webCutForMs === undefined
            ? {}
            : { webServers: { cutForMs: o.webCutForMs, detail: o.webDetail ?? '' } }),
        }))
        .filter((o) => o.ageMs <= freshForMs(settings) * 4),
    };
  } catch (error) {
    const healthy = memberViews.filter((m) => m.healthy).length;
    return {
      etcd: false,
      members: memberViews,
      leader: null,
      automatic: settings.automatic,
      armed: false,
      pausedBecause: `etcd has no quorum (${healthy} of ${members.length} members healthy, ${quorumOf(members.length)} needed): automatic failover is paused, manual db promote still works (${(error as Error).message})`,
      topology: null,
      lastAutomatic: null,
      observers: [],
    };
  }
}

/** After a manual change of primary: etcd's topology follows (best effort: etcd may be down). */
export async function recordManualTopology(
  ctx: Context,
  epoch: number,
  primary: string,
): Promise<string | undefined> {
  try {
    await labEtcd(ctx).put({
      key: failoverKeys(ctx.model).topology,
      value: JSON.stringify({ epoch, primary, by: `manual (${operator()})` }),
    });
    return undefined;
  } catch (error) {
    return `etcd not told (${(error as Error).message}): the failover managers follow database.json once it answers`;
  }
}
