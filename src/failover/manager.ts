/**
 * The failover manager: one on every failover member (lb and mon hosts), each beside an etcd
 * member. Every probe interval it watches the primary from its own host (probeMariadb, in a loop
 * of its own) and publishes what it saw in etcd under its lease. The manager that holds the leader key (a lease
 * that lapses within two seconds of its death) also asks the replicas whether they still hear
 * from the primary, judges (judge.ts), and when the primary is dead claims the next epoch in etcd
 * with a compare-and-swap and promotes a replica with foobar's own promote. Without etcd's quorum
 * no manager can be leader, so automatic failover pauses and nothing else does.
 */
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { LockedError } from '../lib/lock.ts';
import { httpsServer, type TlsFiles } from '../lib/tls-server.ts';
import { labLock, withLabLockOrLeave } from '../steps/lock.ts';
import { isAhead, parseGtidList } from '../lib/gtid.ts';
import { AUTOMATIC_FAILOVER, failoverKeys, failoverMembers } from '../model/failover.ts';
import { addressOf, findHost, hostsWithRole, type Host } from '../model/model.ts';
import { hostPaths } from '../model/layout.ts';
import { scrapeAddress } from '../model/monitoring.ts';
import { coreName, trustedCa } from '../model/transit.ts';
import { serverState, watchSemiSync } from '../probes/mariadb.ts';
import { parseLastReceived, ss } from '../commands/ss.ts';
import { appendAudit } from '../steps/audit.ts';
import type { Context } from '../steps/context.ts';
import { describeLeft, healOwed, promoteReplica } from '../steps/db/changes.ts';
import { reopenPrimary } from '../steps/db/reopen.ts';
import {
  followDbState,
  readDbState,
  replicasOf,
  type DbState,
  type DbStateSource,
} from '../steps/db/state.ts';
import type { Etcd, KeyValue } from './etcd.ts';
import {
  judge,
  REPUBLISH_MS,
  type Judgement,
  type LastAutomatic,
  type Observation,
  type ReplicaHearing,
} from './judge.ts';
import { probeMariadb } from './observe.ts';
import {
  parseLastAutomatic,
  parseObservation,
  parsePause,
  parseRearmed,
  parseTopology,
  readFailoverRecords,
  type FailoverRecords,
} from './records.ts';

/** The leader's lease: etcd's minimum for a 1 s election timeout. */
const LEASE_TTL_SECONDS = 2;
/** How often the lease is renewed, whatever the rounds are doing (a promotion takes seconds). */
const KEEPALIVE_EVERY_MS = 500;
/** How often the leader reads the primary's semi-sync status while it answers. */
const SEMI_SYNC_EVERY_MS = 1000;
/** How often the leader tries the hosts the last change of primary could not reach. */
const HEAL_EVERY_MS = 3000;
/** How often the leader tries to open a primary that answers read-only (see steps/db/reopen.ts). */
const REOPEN_EVERY_MS = 2000;
/**
 * While the primary answers every probe and no web server names it unreachable, what only
 * watches comes once a second instead of every probe interval: a manager that does not lead
 * reads etcd's records (to know the leader, and take over once its lease lapses), and a load
 * balancer's manager asks the web servers. The probes of the primary, the publishing of what they
 * find and the leader's rounds keep the probe interval, so a dead primary is confirmed as fast;
 * a primary cut off from the web servers alone is heard of up to a second later. At rest the
 * managers and etcd took two thirds of an idle lab's CPU (docs/decisions.md).
 */
const CALM_EVERY_MS = 1000;
/**
 * How long a web server's /readyz may take: it answers within 0.1 s once it knows its database
 * servers, but waits for its first probe (0.5 s at most) after a start or a new topology.
 */
const WEB_ASK_TIMEOUT_MS = 1000;

/** What one web server's /readyz said of the primary. */
interface WebAnswer {
  readonly name: string;
  /** It serves (it reaches some database server) and names this primary unreachable. */
  readonly cut: boolean;
  /** How long it has failed to reach the primary, by its own clock (0 unless `cut`). */
  readonly cutForMs: number;
  readonly detail: string;
}

export interface ManagerView {
  readonly manager: string;
  readonly etcd: boolean;
  readonly etcdError: string;
  readonly leader: string | undefined;
  readonly judgement: Judgement | undefined;
  readonly own: Observation | undefined;
  readonly failovers: number;
  readonly lastAutomatic: LastAutomatic | undefined;
  /** When an operator last re-armed automatic failover (`db failover resume`), as the leader read it. */
  readonly rearmedAt: number | undefined;
  readonly epoch: number;
}

export class FailoverManager {
  private readonly ctx: Context;
  private readonly me: Host;
  private readonly etcd: Etcd;
  private readonly keys: ReturnType<typeof failoverKeys>;
  /** database.json, read every round: on machines streamed from the monitor (followDbState). */
  private readonly states: DbStateSource;
  private lease: string | undefined;
  /** The primary the probes watch: the last round's (undefined before the first). */
  private target: string | undefined;
  /** What the probes found of `primary`, and since when they fail (the first failed attempt's start). */
  private reach:
    | {
        readonly primary: string;
        readonly reachable: boolean;
        readonly detail: string;
        readonly failingSince: number | undefined;
      }
    | undefined;
  private semiSync: { active: boolean; epoch: number } | undefined;
  private semiSyncAt = 0;
  private semiSyncBusy = false;
  /** The last round saw the primary in doubt: the next one asks the replicas straight away. */
  private suspected = false;
  private acting = false;
  /** A heal of the hosts the last change of primary could not reach, while it runs. */
  private healing: Promise<void> | undefined;
  private healAt = 0;
  /** The epoch at which the primary last answered read-only (semi-sync's reads say so). */
  private readOnlyAt: number | undefined;
  private reopening: Promise<void> | undefined;
  private reopenAt = 0;
  /** The last reason a read-only primary was left so: audited once, not every try. */
  private reopenRefused = '';
  private stopped = false;
  /** When the records were last read from etcd (readsLater). */
  private recordsAt = 0;
  private published:
    { reachable: boolean; cut: boolean; confirmed: boolean; epoch: number; at: number } | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  /** Since when every web server has served but named `primary` unreachable (web watchers only). */
  private webCut: { readonly primary: string; readonly since: number } | undefined;
  private webDetail = '';
  /** Kept-alive TLS connections to the web servers, verified against this CA (re-read each round). */
  private webAgent: { readonly ca: string; readonly agent: https.Agent } | undefined;
  view: ManagerView;

  constructor(ctx: Context, me: Host, etcd: Etcd) {
    this.ctx = ctx;
    this.me = me;
    this.etcd = etcd;
    this.keys = failoverKeys(ctx.model);
    this.states = followDbState(ctx, ctx.model.failover.probeIntervalMs);
    this.view = {
      manager: me.name,
      etcd: false,
      etcdError: 'not asked yet',
      leader: undefined,
      judgement: undefined,
      own: undefined,
      failovers: 0,
      lastAutomatic: undefined,
      rearmedAt: undefined,
      epoch: 0,
    };
  }

  private log(message: string): void {
    process.stdout.write(`${new Date().toISOString()} ${this.me.name}: ${message}\n`);
  }

  async run(): Promise<void> {
    const interval = this.ctx.model.failover.probeIntervalMs;
    this.keepalive = setInterval(() => {
      void this.renewLease();
    }, KEEPALIVE_EVERY_MS);
    void this.watchPrimary();
    if (this.asksWebServers()) void this.watchWebServers();
    while (!this.stopped) {
      const started = Date.now();
      try {
        await this.round();
      } catch (error) {
        this.log(`round failed: ${(error as Error).message}`);
      }
      const left = interval - (Date.now() - started);
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
    }
  }

  stop(): void {
    this.stopped = true;
    this.states.close();
    clearInterval(this.keepalive);
    this.webAgent?.agent.destroy();
  }

  /**
   * Every probe interval (or once the last probe ended, when a silent primary makes it wait for
   * its timeout), the primary's greeting. Its own loop, as the web servers' is: a round judges
   * every interval from what the probes know by then, and never waits for a probe of a silent
   * primary (a failure is known after the probe timeout, confirmed `confirmMs` after the start
   * of the first failed attempt, whatever the rounds were doing).
   */
  private async watchPrimary(): Promise<void> {
    const { failover } = this.ctx.model;
    while (!this.stopped) {
      const started = Date.now();
      const primary = this.target;
      if (primary !== undefined) await this.probePrimary(primary);
      const left = failover.probeIntervalMs - (Date.now() - started);
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
    }
  }

  /** One probe of `primary`, recorded unless the topology changed while it ran. */
  private async probePrimary(primary: string): Promise<void> {
    const host = findHost(this.ctx.model, primary);
    if (host === undefined) throw new Error(`the primary ${primary} is not in the model`);
    const { failover, ports } = this.ctx.model;
    const started = Date.now();
    const reach = await probeMariadb(addressOf(host, 'core'), ports.mysql, failover.probeTimeoutMs);
    if (this.target !== primary) return;
    const before = this.reach?.primary === primary ? this.reach.failingSince : undefined;
    this.reach = {
      primary,
      reachable: reach.reachable,
      detail: reach.detail,
      failingSince: reach.reachable ? undefined : (before ?? started),
    };
  }

  /**
   * Managers on load balancers ask the web servers what they see, over the flow their HAProxy
   * checks use (lb → web on the HTTP port); the monitor has no such flow.
   */
  private asksWebServers(): boolean {
    return this.me.roles.includes('lb') && hostsWithRole(this.ctx.model, 'web').length > 0;
  }

  /**
   * Every probe interval, each web server's /readyz: since when all of them serve but cannot
   * reach the primary (a partition between them and the primary, which the managers may not
   * see). Its own loop, so a slow answer never delays the probes of the primary.
   */
  private async watchWebServers(): Promise<void> {
    const webs = hostsWithRole(this.ctx.model, 'web');
    while (!this.stopped) {
      const started = Date.now();
      // The primary as the last probe round read it ('' before the first).
      const primary = this.view.own?.primary ?? '';
      const agent = await this.webServersAgent();
      const answers =
        agent instanceof https.Agent
          ? await Promise.all(webs.map((web) => this.askWebServer(web, primary, agent)))
          : webs.map((web) => ({ name: web.name, cut: false, cutForMs: 0, detail: agent }));
      const cut = primary !== '' && answers.every((a) => a.cut);
      if (!cut || this.webCut?.primary !== primary) this.webCut = undefined;
      // Since when all of them have failed to reach it, as each web server counts it (from the
      // start of its first failed probe), not from when this manager first asked.
      const cutFor = Math.min(...answers.map((a) => a.cutForMs));
      if (cut) this.webCut ??= { primary, since: Date.now() - cutFor };
      this.webDetail = answers.map((a) => `${a.name}: ${a.detail}`).join('; ');
      const { probeIntervalMs } = this.ctx.model.failover;
      const calm = this.reach?.reachable === true && !answers.some((a) => a.cut);
      const every = calm ? Math.max(CALM_EVERY_MS, probeIntervalMs) : probeIntervalMs;
      const left = every - (Date.now() - started);
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
    }
  }

  /**
   * The agent the web servers are asked through: Nginx serves the core network over TLS only, so
   * each is verified against the lab's CA by its core name. The CA is read each round (`up` may
   * replace it); the agent keeps its connections while the CA stays the same. A string: why none.
   */
  private async webServersAgent(): Promise<https.Agent | string> {
    const file = trustedCa(hostPaths(this.ctx.model, this.me.name));
    let ca: string;
    try {
      ca = await readFile(file, 'utf8');
    } catch (error) {
      return `cannot read the CA's certificate ${file}: ${(error as Error).message}`;
    }
    if (this.webAgent?.ca !== ca) {
      this.webAgent?.agent.destroy();
      this.webAgent = {
        ca,
        agent: new https.Agent({ ca, keepAlive: true, minVersion: 'TLSv1.3' }),
      };
    }
    return this.webAgent.agent;
  }

  private askWebServer(web: Host, primary: string, agent: https.Agent): Promise<WebAnswer> {
    const { model } = this.ctx;
    return new Promise((resolve) => {
      const answer = (cut: boolean, detail: string, cutForMs = 0): void => {
        resolve({ name: web.name, cut, cutForMs: cut ? cutForMs : 0, detail });
      };
      const request = https.get(
        {
          agent,
          host: addressOf(web, 'core'),
          servername: coreName(model, web),
          port: model.ports.https,
          path: '/readyz',
          headers: { host: `www.${model.domain}` },
          timeout: WEB_ASK_TIMEOUT_MS,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            try {
              const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
                status?: string;
                db?: { primary?: string; primaryReachable?: boolean; primaryDownForMs?: number };
              };
              const serves = body.status === 'ready';
              const lost = body.db?.primary === primary && body.db.primaryReachable === false;
              answer(
                serves && lost,
                !serves
                  ? `not serving (${body.status ?? response.statusCode})`
                  : lost
                    ? `cannot reach ${primary}`
                    : `reaches ${body.db?.primary ?? 'no primary'}`,
                Math.max(0, body.db?.primaryDownForMs ?? 0),
              );
            } catch {
              answer(false, `HTTP ${response.statusCode ?? 0}, not /readyz's JSON`);
            }
          });
          response.on('error', (error) => {
            answer(false, error.message);
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error('no answer in time')));
      request.on('error', (error) => {
        answer(false, error.message);
      });
    });
  }

  private async renewLease(): Promise<void> {
    const lease = this.lease;
    if (lease === undefined) return;
    try {
      if (!(await this.etcd.keepAlive(lease)) && this.lease === lease) {
        this.log(`lease ${lease} expired`);
        this.lease = undefined;
      }
    } catch {
      // The next round finds out whether etcd answers.
    }
  }

  /** Publishes what it sees when that changed, and at least every REPUBLISH_MS. */
  private async publish(own: Observation, lease: string): Promise<void> {
    const { confirmMs } = this.ctx.model.failover;
    const confirmed = own.failingForMs >= confirmMs || (own.webCutForMs ?? 0) >= confirmMs;
    const cut = (own.webCutForMs ?? 0) > 0;
    const last = this.published;
    if (
      last?.reachable === own.reachable &&
      last.cut === cut &&
      last.confirmed === confirmed &&
      last.epoch === own.epoch &&
      own.at - last.at < REPUBLISH_MS
    )
      return;
    await this.etcd.put({
      key: this.keys.observation(this.me.name),
      value: JSON.stringify(own),
      lease,
    });
    this.published = { reachable: own.reachable, cut, confirmed, epoch: own.epoch, at: own.at };
  }

  private async round(): Promise<void> {
    const state = await this.states.read();
    this.target = state.primary;
    // A new primary (or the first round) waits for its first probe; after that the probes run
    // on their own and the round reads what they know.
    if (this.reach?.primary !== state.primary) await this.probePrimary(state.primary);
    const reach = this.reach;
    if (reach?.primary !== state.primary) throw new Error('the topology changed during the round');
    const now = Date.now();
    const own: Observation = {
      manager: this.me.name,
      primary: state.primary,
      epoch: state.epoch,
      reachable: reach.reachable,
      failingForMs: reach.failingSince === undefined ? 0 : now - reach.failingSince,
      detail: reach.detail,
      at: now,
      ...(this.asksWebServers()
        ? {
            // A cut from the primary before a failover says nothing of the one after it.
            webCutForMs: this.webCut?.primary === state.primary ? now - this.webCut.since : 0,
            webDetail: this.webDetail,
          }
        : {}),
    };
    this.view = { ...this.view, own, epoch: state.epoch };
    let leader: string | undefined;
    let records: FailoverRecords;
    try {
      const lease = await this.ensureLease();
      if (lease !== this.lease) this.published = undefined;
      this.lease = lease;
      await this.publish(own, lease);
      if (this.readsLater(own)) {
        this.view = { ...this.view, etcd: true, etcdError: '' };
        return;
      }
      // Everything a leader judges by, read with the leader key: one request a round.
      records = await readFailoverRecords(this.etcd, this.keys);
      this.recordsAt = own.at;
      leader = await this.campaign(lease, records.leader);
      this.view = { ...this.view, etcd: true, etcdError: '', leader };
    } catch (error) {
      this.view = {
        ...this.view,
        etcd: false,
        etcdError: (error as Error).message,
        leader: undefined,
        judgement: undefined,
      };
      return;
    }
    if (leader !== this.me.name || this.acting) {
      return;
    }
    await this.lead(state, own, records);
  }

  /**
   * A manager that another one leads, seeing the primary answer and no web server cut from it,
   * reads the records once a second (CALM_EVERY_MS); every round otherwise.
   */
  private readsLater(own: Observation): boolean {
    const { leader } = this.view;
    return (
      leader !== undefined &&
      leader !== this.me.name &&
      own.reachable &&
      (own.webCutForMs ?? 0) === 0 &&
      own.at - this.recordsAt < CALM_EVERY_MS
    );
  }

  private async ensureLease(): Promise<string> {
    if (this.lease !== undefined) return this.lease;
    const lease = await this.etcd.grant(LEASE_TTL_SECONDS);
    this.log(`lease ${lease} granted`);
    return lease;
  }

  /** Takes the leader key if nobody holds it (`current`, as read); resolves to whoever holds it now. */
  private async campaign(
    lease: string,
    current: KeyValue | undefined,
  ): Promise<string | undefined> {
    if (current !== undefined) return current.value;
    const won = await this.etcd.transaction(
      [{ key: this.keys.leader, absent: true }],
      [{ key: this.keys.leader, value: this.me.name, lease }],
    );
    if (won) this.log('leader');
    return won ? this.me.name : (await this.etcd.get(this.keys.leader))?.value;
  }

  private async lead(state: DbState, own: Observation, records: FailoverRecords): Promise<void> {
    // The replicas are asked beside etcd's topology update when the primary was in doubt
    // already, so a confirmation is judged without one more round of processes.
    const early =
      this.suspected || !own.reachable || (own.webCutForMs ?? 0) > 0
        ? this.askReplicas(state)
        : undefined;
    const { observations, pause, lastAutomatic: last, topology, rearmed } = records;
    const members = failoverMembers(this.ctx.model).length;
    const claimed = topology === undefined ? undefined : parseTopology(topology.value);
    // database.json is where every change of primary ends (manual ones too): etcd follows it.
    if (
      claimed === undefined ||
      claimed.epoch < state.epoch ||
      (claimed.epoch === state.epoch && claimed.primary !== state.primary)
    ) {
      await this.etcd.transaction(
        [topologyUnchanged(this.keys.topology, topology)],
        [
          {
            key: this.keys.topology,
            value: JSON.stringify({
              epoch: state.epoch,
              primary: state.primary,
              by: 'database.json',
            }),
          },
        ],
      );
    }
    // Beside the rounds: its SQL must not hold up a judgement.
    if (own.reachable) void this.watchSemiSync(state);
    const seen = observations.flatMap((kv) => {
      const o = parseObservation(kv.value);
      return o === undefined ? [] : [o];
    });
    const suspect = seen.some(
      (o) => (!o.reachable || (o.webCutForMs ?? 0) > 0) && o.epoch === state.epoch,
    );
    this.suspected = suspect;
    const replicas = suspect ? await (early ?? this.askReplicas(state)) : [];
    const lastAutomatic = last === undefined ? undefined : parseLastAutomatic(last.value);
    const rearmedAt = rearmed === undefined ? undefined : parseRearmed(rearmed.value)?.at;
    const judgement = judge({
      now: Date.now(),
      settings: this.ctx.model.failover,
      members,
      primary: state.primary,
      epoch: state.epoch,
      claimedEpoch: Math.max(claimed?.epoch ?? 0, state.epoch),
      observations: seen,
      pause: pause === undefined ? undefined : parsePause(pause.value),
      lastAutomatic,
      rearmedAt,
      semiSyncActive: this.semiSync?.epoch === state.epoch ? this.semiSync.active : undefined,
      replicas,
    });
    const previous = this.view.judgement;
    this.view = { ...this.view, judgement, lastAutomatic, rearmedAt };
    if (judgement.verdict !== previous?.verdict || judgement.reason !== previous.reason)
      this.log(`${judgement.verdict}${judgement.reason === '' ? '' : `: ${judgement.reason}`}`);
    if (judgement.verdict === 'dead' && !judgement.promote && previous?.verdict !== 'dead')
      await this.audit('failover refused', state.primary, judgement.reason, 'failed');
    const owed = state.unreached ?? [];
    if (!judgement.promote && !suspect && owed.length > 0) this.healSoon(owed);
    if (!judgement.promote && !suspect && pause === undefined && this.readOnlyAt === state.epoch)
      this.reopenSoon(state);
    if (judgement.promote) {
      this.acting = true;
      try {
        // A heal holds the lock a few seconds at most (it leaves a silent host alone).
        await this.healing;
        await this.promote(state, topology, replicas, judgement.reason);
      } finally {
        this.acting = false;
      }
    }
  }

  /**
   * The hosts the last change of primary could not reach (a silent machine, or one too slow to
   * answer in REACH_TIMEOUT_MS), healed as soon as they answer: every HEAL_EVERY_MS while some
   * are owed, under the lock (an operator's command holding it goes first), beside the rounds.
   * A web server so owed is out of rotation: without this, it stayed out until a person ran
   * `foobar up` or `db rejoin`. A fenced former primary is killed and masked here, never made a
   * replica: that is `db rejoin`'s, which checks its data first.
   */
  private healSoon(owed: readonly string[]): void {
    if (this.healing !== undefined || Date.now() - this.healAt < HEAL_EVERY_MS) return;
    this.healAt = Date.now();
    const what = `heal ${owed.join(', ')}, owed by the last change of primary`;
    this.healing = withLabLockOrLeave(
      labLock(this.ctx),
      `failover manager on ${this.me.name}: ${what}`,
      'heal',
      () => healOwed(this.ctx, { onlyAnswering: true }),
    )
      .then(async ({ healed, left }) => {
        if (healed.length === 0) return;
        const detail = `healed ${healed.join('; ')}${left.length === 0 ? '' : `; still owed: ${describeLeft(left)}`}`;
        this.log(detail);
        await this.audit('unreached healed', owed.join(', '), detail, 'succeeded');
      })
      .catch((error: unknown) => {
        if (!(error instanceof LockedError)) this.log(`${what}: ${(error as Error).message}`);
      })
      .finally(() => {
        this.healing = undefined;
      });
  }

  /**
   * The primary of record answering read-only, as every server starts: opened for writes under
   * the lock (an operator's command holding it goes first) once database.json still names it
   * and no replica is ahead of it (steps/db/reopen.ts). Not while failover is paused: a paused
   * site is the operator's. Without this, a primary whose machine rebooted faster than a
   * failover took no write until a person ran `foobar up`.
   */
  private reopenSoon(state: DbState): void {
    if (this.reopening !== undefined || Date.now() - this.reopenAt < REOPEN_EVERY_MS) return;
    this.reopenAt = Date.now();
    const what = `open ${state.primary}, the primary, for writes: it answers read-only`;
    this.reopening = withLabLockOrLeave(
      labLock(this.ctx),
      `failover manager on ${this.me.name}: ${what}`,
      'reopen',
      () => reopenPrimary(this.ctx, state),
    )
      .then(async (done) => {
        if (done === undefined) return;
        if (done.opened) {
          this.reopenRefused = '';
          this.readOnlyAt = undefined;
          this.log(done.detail);
          await this.audit('primary reopened', state.primary, done.detail, 'succeeded');
        } else if (done.reason !== this.reopenRefused) {
          this.reopenRefused = done.reason;
          this.log(done.reason);
          await this.audit('primary reopened', state.primary, done.reason, 'failed');
        }
      })
      .catch((error: unknown) => {
        if (!(error instanceof LockedError)) this.log(`${what}: ${(error as Error).message}`);
      })
      .finally(() => {
        this.reopening = undefined;
      });
  }

  private async watchSemiSync(state: DbState): Promise<void> {
    if (this.semiSyncBusy || Date.now() - this.semiSyncAt < SEMI_SYNC_EVERY_MS) return;
    this.semiSyncAt = Date.now();
    this.semiSyncBusy = true;
    try {
      const semiSync = await watchSemiSync(this.ctx, state.primary);
      this.semiSync = { active: semiSync.active, epoch: state.epoch };
      this.readOnlyAt = semiSync.readOnly ? state.epoch : undefined;
      if (semiSync.released) {
        const what = `semi-sync on ${state.primary} turned off and on to end a replication thread stuck since a replica came back (MariaDB 10.11)`;
        this.log(what);
        await this.audit('replication repaired', state.primary, what, 'succeeded');
      }
    } catch {
      // Asked again next time; the judgement uses the last answer.
    } finally {
      this.semiSyncBusy = false;
    }
  }

  /**
   * Each replica: does it still receive events or heartbeats from the primary? Its kernel says
   * how long ago its replication connection last received data, to the millisecond: no sampling
   * of positions, so a silence counts from the last packet, not from when the leader looked.
   * No established connection (the I/O thread stopped or reconnecting) is no hearing.
   */
  private async askReplicas(state: DbState): Promise<ReplicaHearing[]> {
    const silentMs = Math.max(2 * this.ctx.model.database.heartbeatMs, 400);
    const primary = findHost(this.ctx.model, state.primary);
    const address = primary === undefined ? undefined : addressOf(primary, 'core');
    return Promise.all(
      replicasOf(this.ctx, state).map(async (replica): Promise<ReplicaHearing> => {
        if (address === undefined)
          return { name: replica.name, hears: undefined, detail: `${state.primary} unknown` };
        try {
          const result = await this.ctx.driver.exec(replica.name, {
            ...ss.connectionsTo(address, this.ctx.model.ports.mysql),
            timeoutMs: 2000,
          });
          const [lastMs] = parseLastReceived(result.stdout);
          if (lastMs === undefined)
            return {
              name: replica.name,
              hears: false,
              detail: `no replication connection to ${state.primary}`,
            };
          return {
            name: replica.name,
            hears: lastMs < silentMs,
            detail: `last heard from ${state.primary} ${lastMs} ms ago`,
          };
        } catch (error) {
          return {
            name: replica.name,
            hears: undefined,
            detail: (error as Error).message.split('\n')[0] ?? '',
          };
        }
      }),
    );
  }

  private async promote(
    state: DbState,
    topology: KeyValue | undefined,
    replicas: readonly ReplicaHearing[],
    why: string,
  ): Promise<void> {
    const candidate = await this.candidate(state, replicas);
    const started = Date.now();
    const what = `automatic failover ${state.primary} → ${candidate}`;
    try {
      await withLabLockOrLeave(
        labLock(this.ctx),
        `failover manager on ${this.me.name}: ${what}`,
        AUTOMATIC_FAILOVER,
        async () => {
          const now = await readDbState(this.ctx);
          if (now.epoch !== state.epoch)
            throw new Error(`the topology changed meanwhile (epoch ${now.epoch})`);
          const next: LastAutomatic = {
            at: Date.now(),
            from: state.primary,
            to: candidate,
            epoch: state.epoch + 1,
          };
          // Only the leader of record, on the topology it judged, may claim the next epoch.
          const claimed = await this.etcd.transaction(
            [
              { key: this.keys.leader, value: this.me.name },
              topologyUnchanged(this.keys.topology, topology),
            ],
            [
              {
                key: this.keys.topology,
                value: JSON.stringify({
                  epoch: next.epoch,
                  primary: candidate,
                  by: `automatic (${this.me.name})`,
                }),
              },
              { key: this.keys.lastAutomatic, value: JSON.stringify(next) },
            ],
          );
          if (!claimed)
            throw new Error(
              'lost the claim on the next epoch in etcd (another leader, or a manual change)',
            );
          this.log(`${what}: epoch ${next.epoch} claimed`);
          const report = await promoteReplica(this.ctx, candidate, { force: true });
          this.view = { ...this.view, failovers: this.view.failovers + 1, lastAutomatic: next };
          this.log(
            `${what}: done in ${report.totalMs} ms (${report.steps.map((s) => `${s.what} ${s.ms} ms`).join(', ')})`,
          );
          await this.audit(
            'automatic failover',
            candidate,
            `${what} (epoch ${next.epoch}) in ${report.totalMs} ms: ${why}; ${report.notes.join('; ')}`,
            'succeeded',
            (Date.now() - started) / 1000,
            state.primary,
          );
        },
      );
    } catch (error) {
      const message =
        error instanceof LockedError ? `skipped: ${error.message}` : (error as Error).message;
      this.log(`${what} failed: ${message}`);
      await this.audit(
        'automatic failover',
        candidate,
        `${what}: ${message}`,
        'failed',
        (Date.now() - started) / 1000,
        state.primary,
      );
    }
  }

  /** The replica that received most from the primary (promote catches it up from the others anyway). */
  private async candidate(state: DbState, replicas: readonly ReplicaHearing[]): Promise<string> {
    const names = replicas.map((r) => r.name);
    // One replica: nothing to compare (and one SQL call less on the way to writes).
    if (names.length === 1 && names[0] !== undefined) return names[0];
    const positions = await Promise.all(
      names.map(async (name) => ({ name, gtid: (await serverState(this.ctx, name)).gtidSlavePos })),
    );
    const best = positions.reduce<{ name: string; gtid: string } | undefined>(
      (a, b) => (a === undefined || isAhead(parseGtidList(b.gtid), parseGtidList(a.gtid)) ? b : a),
      undefined,
    );
    if (best === undefined) throw new Error(`no replica of ${state.primary} to promote`);
    return best.name;
  }

  private async audit(
    action:
      | 'automatic failover'
      | 'failover refused'
      | 'replication repaired'
      | 'unreached healed'
      | 'primary reopened',
    host: string,
    detail: string,
    outcome: 'succeeded' | 'failed',
    seconds = 0,
    previous?: string,
  ): Promise<void> {
    try {
      await appendAudit(this.ctx, {
        action,
        host,
        ...(previous === undefined ? {} : { previous }),
        outcome,
        detail,
        seconds,
        user: `failover manager on ${this.me.name}`,
      });
    } catch (error) {
      this.log(`audit log: ${(error as Error).message}`);
    }
  }
}

function topologyUnchanged(key: string, seen: KeyValue | undefined) {
  return seen === undefined
    ? { key, absent: true as const }
    : { key, modRevision: seen.modRevision };
}

/** Prometheus text of the manager's view. */
export function renderMetrics(view: ManagerView): string {
  const j = view.judgement;
  const lines = [
    '# HELP foobar_failover_etcd_ok 1 when this manager reaches etcd with quorum.',
    '# TYPE foobar_failover_etcd_ok gauge',
    `foobar_failover_etcd_ok ${view.etcd ? 1 : 0}`,
    '# HELP foobar_failover_leader 1 on the manager that leads (decides and acts).',
    '# TYPE foobar_failover_leader gauge',
    `foobar_failover_leader ${view.leader === view.manager ? 1 : 0}`,
    '# HELP foobar_failover_armed 1 on the leader when automatic failover would act.',
    '# TYPE foobar_failover_armed gauge',
    `foobar_failover_armed ${view.leader === view.manager && j?.armed === true ? 1 : 0}`,
    '# HELP foobar_failover_primary_reachable 1 when this manager reaches the primary.',
    '# TYPE foobar_failover_primary_reachable gauge',
    `foobar_failover_primary_reachable ${view.own?.reachable === true ? 1 : 0}`,
    '# HELP foobar_failover_epoch The topology epoch this manager knows.',
    '# TYPE foobar_failover_epoch gauge',
    `foobar_failover_epoch ${view.epoch}`,
    '# HELP foobar_failover_promotions_total Automatic failovers this manager carried out.',
    '# TYPE foobar_failover_promotions_total counter',
    `foobar_failover_promotions_total ${view.failovers}`,
  ];
  if (view.lastAutomatic !== undefined)
    lines.push(
      '# HELP foobar_failover_last_automatic_timestamp_seconds When the last automatic failover happened.',
      '# TYPE foobar_failover_last_automatic_timestamp_seconds gauge',
      `foobar_failover_last_automatic_timestamp_seconds ${view.lastAutomatic.at / 1000}`,
    );
  if (view.leader === view.manager && view.rearmedAt !== undefined)
    lines.push(
      '# HELP foobar_failover_rearmed_timestamp_seconds When an operator last re-armed automatic failover.',
      '# TYPE foobar_failover_rearmed_timestamp_seconds gauge',
      `foobar_failover_rearmed_timestamp_seconds ${view.rearmedAt / 1000}`,
    );
  return `${lines.join('\n')}\n`;
}

/**
 * /metrics and /healthz on the address the monitor scrapes, over TLS with the host's exporters'
 * certificate (the monitor verifies it by the host's name).
 */
export function serveMetrics(
  manager: FailoverManager,
  host: Host,
  port: number,
  tls: TlsFiles,
): https.Server {
  const server = httpsServer(tls, (req, res) => {
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(renderMetrics(manager.view));
    } else if (req.url === '/healthz' || req.url === '/') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(manager.view));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  server.listen(port, scrapeAddress(host));
  return server;
}
