/**
 * The leader's judgement, pure: is automatic failover armed, is the primary dead, and may a
 * replica be promoted now. Everything it needs comes in as data (observations from etcd, what
 * the replicas report, the operator's pause, the last automatic failover), so each rule is tested
 * without a daemon.
 */
import type { FailoverSettings } from '../model/model.ts';
import { quorumOf } from '../model/failover.ts';

/** What one manager saw of the primary, as it publishes it in etcd. */
export interface Observation {
  readonly manager: string;
  readonly primary: string;
  readonly epoch: number;
  readonly reachable: boolean;
  /** How long it has failed to reach it without a success in between (0 when reachable). */
  readonly failingForMs: number;
  readonly detail: string;
  /** When it was made (ms since the epoch, the manager's clock). */
  readonly at: number;
  /**
   * The web servers' own view, for managers that can ask them (on a load balancer): how long
   * every web server has said, in its /readyz, that it serves from some database but cannot
   * reach this primary (0 when one of them reaches it or did not answer).
   */
  readonly webCutForMs?: number;
  /** What the web servers said, when they were asked. */
  readonly webDetail?: string;
}

/** What a replica says of the primary: whether it still hears from it (events or heartbeats). */
export interface ReplicaHearing {
  readonly name: string;
  /** Undefined: the replica itself could not be asked. */
  readonly hears: boolean | undefined;
  readonly detail: string;
}

export interface Pause {
  readonly by: string;
  readonly reason: string;
  readonly at: string;
}

export interface LastAutomatic {
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly epoch: number;
}

export interface JudgeInput {
  readonly now: number;
  readonly settings: FailoverSettings;
  /** How many managers there are (etcd's members): a majority of them must agree. */
  readonly members: number;
  readonly primary: string;
  readonly epoch: number;
  /** The epoch etcd's topology key holds: above `epoch`, a promotion was claimed and not finished. */
  readonly claimedEpoch: number;
  readonly observations: readonly Observation[];
  readonly pause: Pause | undefined;
  readonly lastAutomatic: LastAutomatic | undefined;
  /** When an operator last re-armed (`db failover resume`): it ends an anti-flap hold. */
  readonly rearmedAt: number | undefined;
  /** The primary's semi-sync status when last seen alive (undefined: not seen yet). */
  readonly semiSyncActive: boolean | undefined;
  /** The replicas' view; empty until the leader asked them. */
  readonly replicas: readonly ReplicaHearing[];
}

export type Verdict = 'healthy' | 'suspect' | 'dead';

export interface Judgement {
  readonly armed: boolean;
  /** Why automatic failover is paused ("" when armed). */
  readonly pausedBecause: string;
  readonly verdict: Verdict;
  /** Managers that cannot reach the primary (fresh observations of this epoch). */
  readonly failing: readonly string[];
  /** Promote now. */
  readonly promote: boolean;
  /** Why the primary is dead, or why a dead primary is not failed over. */
  readonly reason: string;
}

/** A manager publishes at least this often, and at once when what it sees changes. */
export const REPUBLISH_MS = 1000;

/** An observation older than this is ignored: its manager stopped publishing. */
export function freshForMs(settings: FailoverSettings): number {
  return REPUBLISH_MS + Math.max(1000, 3 * settings.probeIntervalMs + settings.probeTimeoutMs);
}

function whyPaused(input: JudgeInput): string {
  const { settings, pause, lastAutomatic, now } = input;
  if (!settings.automatic) return 'automatic failover is off (failover.automatic in foobar.yaml)';
  if (pause !== undefined)
    return `paused by ${pause.by} since ${pause.at}${pause.reason === '' ? '' : `: ${pause.reason}`}`;
  if (input.claimedEpoch > input.epoch)
    return `a promotion to epoch ${input.claimedEpoch} was claimed and not finished: see foobar db status, then promote or rejoin by hand`;
  if (lastAutomatic !== undefined && lastAutomatic.at > (input.rearmedAt ?? 0)) {
    const until = lastAutomatic.at + settings.antiFlapSeconds * 1000;
    if (now < until)
      return `anti-flap: an automatic failover (${lastAutomatic.from} → ${lastAutomatic.to}) happened at ${new Date(lastAutomatic.at).toISOString()}; none other until ${new Date(until).toISOString()}`;
  }
  return '';
}

export function judge(input: JudgeInput): Judgement {
  const pausedBecause = whyPaused(input);
  const armed = pausedBecause === '';
  const fresh = input.observations.filter(
    (o) =>
      input.now - o.at <= freshForMs(input.settings) &&
      o.primary === input.primary &&
      o.epoch === input.epoch,
  );
  const failing = fresh.filter((o) => !o.reachable).map((o) => o.manager);
  // A manager republishes at once when it reaches the primary again: until then it still fails.
  const confirmed = fresh.filter(
    (o) => !o.reachable && o.failingForMs + (input.now - o.at) >= input.settings.confirmMs,
  );
  const needed = quorumOf(input.members);
  // Every web server serving but unable to reach the primary: the site cannot write, whatever
  // the managers see. The web servers are the vantage points here (all of them must agree); a
  // manager only carries their answers, so one manager's report is enough.
  const cutOff = fresh.find(
    (o) =>
      o.webCutForMs !== undefined &&
      o.webCutForMs > 0 &&
      o.webCutForMs + (input.now - o.at) >= input.settings.confirmMs,
  );
  // Failing over is safe then: `db promote` reaches the old primary and stops it, and the
  // replicas apply all it sent before one takes over.
  if (confirmed.length < needed && cutOff !== undefined)
    return decide(
      input,
      { armed, pausedBecause, failing },
      `every web server has failed to reach ${input.primary} for ${input.settings.confirmMs} ms (${cutOff.webDetail ?? `asked by ${cutOff.manager}`})`,
      failing.length === 0
        ? 'while the managers still reach it: moving the primary where the web servers reach it'
        : `and ${failing.join(', ')} cannot reach it either: moving the primary where the web servers reach it`,
    );
  if (confirmed.length < needed) {
    const verdict: Verdict = failing.length === 0 ? 'healthy' : 'suspect';
    const reason =
      failing.length === 0
        ? ''
        : `${failing.join(', ')} cannot reach ${input.primary} (${confirmed.length} of ${needed} needed for ${input.settings.confirmMs} ms)`;
    return { armed, pausedBecause, verdict, failing, promote: false, reason };
  }
  const seen = `${confirmed.map((o) => o.manager).join(', ')} cannot reach ${input.primary}`;
  const hearing = input.replicas.filter((r) => r.hears === true).map((r) => r.name);
  if (hearing.length > 0)
    return {
      armed,
      pausedBecause,
      verdict: 'dead',
      failing,
      promote: false,
      reason: `${seen}, but ${hearing.join(', ')} still hear from it: waiting`,
    };
  return decide(
    input,
    { armed, pausedBecause, failing },
    seen,
    'and its replicas stopped hearing from it',
  );
}

/**
 * A dead (or unusable) primary: promote, unless automatic failover is paused or a replica that may
 * hold acknowledged transactions cannot be asked, or the primary was no longer semi-synchronous.
 */
function decide(
  input: JudgeInput,
  base: Pick<Judgement, 'armed' | 'pausedBecause' | 'failing'>,
  seen: string,
  because: string,
): Judgement {
  const dead = (reason: string, promote: boolean): Judgement => ({
    ...base,
    verdict: 'dead',
    promote,
    reason,
  });
  if (input.replicas.length === 0) return dead(`${seen}; no replica to promote`, false);
  if (!base.armed) return dead(`${seen}; not failed over: ${base.pausedBecause}`, false);
  const unasked = input.replicas.filter((r) => r.hears === undefined);
  if (unasked.length > 0)
    return dead(
      `${seen}; refused: ${unasked.map((r) => `${r.name} (${r.detail})`).join(', ')} cannot be asked and may hold acknowledged transactions`,
      false,
    );
  if (input.semiSyncActive === false)
    return dead(
      `${seen}; refused: ${input.primary} had fallen back to asynchronous replication, so acknowledged writes may exist only on it`,
      false,
    );
  return dead(`${seen} ${because}`, true);
}
