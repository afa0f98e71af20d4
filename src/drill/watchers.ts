/**
 * What the system itself does about a fault, watched while it lasts: a load balancer marking a web
 * server DOWN, a virtual address taken over, the failover managers losing the primary, a
 * promotion. Each watcher knows one mechanism; more plug in by adding to WATCHERS.
 *
 * A watcher is asked once, just before the fault is injected, whether it has anything to watch
 * (it takes its baseline then); the drill then polls what it returned until the heal begins.
 * Detection is the first poll that reports `detected`, recovery the first that reports
 * `recovered`, both timed from the injection.
 */
import { hostsWithRole, type Host } from '../model/model.ts';
import { backendServers } from '../probes/haproxy.ts';
import { virtualAddressHolders } from '../probes/vrrp.ts';
import type { Context } from '../steps/context.ts';
import { readDbState } from '../steps/db/state.ts';
import { failoverKeys } from '../model/failover.ts';
import { parseObservation } from '../failover/records.ts';
import { labEtcd } from '../steps/failover.ts';
import type { Fault } from './faults.ts';

export interface Sighting {
  /** What the system did, for the table: "lb-01 marked web-01 DOWN". */
  readonly detected?: string;
  readonly recovered?: string;
}

export interface FaultWatch {
  poll(): Promise<Sighting>;
}

export interface Watcher {
  readonly name: string;
  /** Undefined when the watcher has nothing to say about this fault. */
  watch(ctx: Context, fault: Fault, host: Host): Promise<FaultWatch | undefined>;
}

/** Web server faults: the load balancers mark it DOWN (detected), then all of them (recovered). */
export const loadBalancerChecks: Watcher = {
  name: 'load balancer health checks',
  watch(ctx, _fault, host) {
    if (!host.roles.includes('web')) return Promise.resolve(undefined);
    const lbs = hostsWithRole(ctx.model, 'lb');
    return Promise.resolve({
      async poll() {
        const views = await Promise.all(lbs.map((lb) => backendServers(ctx, lb.name)));
        const down = lbs.filter((_, i) => {
          const view = views[i];
          return (
            view !== undefined &&
            !('error' in view) &&
            view.some((s) => s.name === host.name && s.status.startsWith('DOWN'))
          );
        });
        const first = down[0];
        return {
          ...(first === undefined ? {} : { detected: `${first.name} marked ${host.name} DOWN` }),
          ...(down.length === lbs.length
            ? { recovered: `every load balancer routes around ${host.name}` }
            : {}),
        };
      },
    });
  },
};

/** Faults of the primary: a promotion raises the epoch in the lab's database state. */
export const promotion: Watcher = {
  name: 'database promotion',
  async watch(ctx, fault) {
    if (!('role' in fault.target) || fault.target.role !== 'db-primary') return undefined;
    const before = await readDbState(ctx);
    return {
      async poll() {
        const now = await readDbState(ctx);
        if (now.epoch <= before.epoch) return {};
        const what = `${now.primary} promoted (epoch ${now.epoch})`;
        return { detected: what, recovered: what };
      },
    };
  },
};

/**
 * Load balancer faults: another load balancer holds the virtual addresses this one owns
 * (keepalived's takeover: detection and recovery at once, since visitors are served again then).
 */
export const vrrpTakeover: Watcher = {
  name: 'virtual address takeover',
  watch(ctx, _fault, host) {
    const owned = ctx.model.vrrp.virtualAddresses.filter((v) => v.owner === host.name);
    if (!host.roles.includes('lb') || owned.length === 0) return Promise.resolve(undefined);
    return Promise.resolve({
      async poll() {
        const holdings = await virtualAddressHolders(ctx);
        const taken = holdings.filter(
          (h) => h.owner === host.name && h.holders.length > 0 && !h.holders.includes(host.name),
        );
        if (taken.length < owned.length) return {};
        const what = taken.map((h) => `${h.holders.join(' and ')} holds ${h.address}`).join(', ');
        return { detected: what, recovered: what };
      },
    });
  },
};

/**
 * Faults of the primary: the failover managers see it (a manager cannot reach it, or no web
 * server can). Recovery is the promotion, watched above.
 */
export const failoverManagers: Watcher = {
  name: 'failover managers',
  watch(ctx, fault) {
    if (!('role' in fault.target) || fault.target.role !== 'db-primary')
      return Promise.resolve(undefined);
    if (!ctx.model.failover.automatic) return Promise.resolve(undefined);
    return Promise.resolve({
      async poll() {
        // What the managers published, and nothing else: this runs every poll of the drill.
        const published = await labEtcd(ctx).getPrefix(failoverKeys(ctx.model).observations);
        const observers = published.flatMap((kv) => parseObservation(kv.value) ?? []);
        const lost = observers.find((o) => !o.reachable);
        const cut = observers.find((o) => (o.webCutForMs ?? 0) > 0);
        if (lost !== undefined) return { detected: `${lost.manager} lost the primary` };
        if (cut !== undefined)
          return { detected: `no web server reaches the primary (${cut.manager})` };
        return {};
      },
    });
  },
};

export const WATCHERS: readonly Watcher[] = [
  loadBalancerChecks,
  vrrpTakeover,
  failoverManagers,
  promotion,
];

export interface WatchResult {
  readonly detectedMs?: number;
  readonly detectedBy?: string;
  readonly recoveredMs?: number;
  readonly recoveredBy?: string;
}

/** Polls every watch, keeping the first detection and recovery seen (ms after `injectedAt`). */
export class WatchLog {
  #result: WatchResult = {};
  readonly #watches: readonly FaultWatch[];
  readonly #injectedAt: () => number;

  constructor(watches: readonly FaultWatch[], injectedAt: () => number) {
    this.#watches = watches;
    this.#injectedAt = injectedAt;
  }

  get result(): WatchResult {
    return this.#result;
  }

  get watching(): boolean {
    return this.#watches.length > 0;
  }

  async poll(): Promise<void> {
    const sightings = await Promise.all(this.#watches.map((w) => w.poll()));
    const ms = Date.now() - this.#injectedAt();
    for (const s of sightings) {
      if (s.detected !== undefined && this.#result.detectedMs === undefined)
        this.#result = { ...this.#result, detectedMs: ms, detectedBy: s.detected };
      if (s.recovered !== undefined && this.#result.recoveredMs === undefined)
        this.#result = { ...this.#result, recoveredMs: ms, recoveredBy: s.recovered };
    }
  }
}
