/**
 * The drill's faults, derived from the model's hosts and roles, so they follow the topology: a
 * third web server brings three more faults. Database faults name a role (`db-primary`,
 * `db-replica`), resolved to a host when injected: after a failover the primary is another host.
 * Every fault is injected and healed through src/faults/inject.ts.
 */
import { dbHosts } from '../model/database.ts';
import { findHost, hostsWithRole, type Host, type Model } from '../model/model.ts';
import {
  healPartition,
  killService,
  partition,
  restoreHost,
  silenceHost,
} from '../faults/inject.ts';
import type { Context } from '../steps/context.ts';
import { readDbState, replicasOf } from '../steps/db/state.ts';
import { ChangeRefused, rejoin } from '../steps/db/changes.ts';
import { resumeFailover } from '../steps/failover.ts';
import { runPlan } from '../steps/plan.ts';
import { upPlan } from '../steps/up.ts';
import type { Goal } from './goals.ts';

export type FaultAction =
  | { readonly kind: 'kill'; readonly service: string }
  | { readonly kind: 'silence' }
  | { readonly kind: 'partition-from-web' };

export type DbRole = 'db-primary' | 'db-replica';

export interface Fault {
  /** What the command accepts: `web-01:app-killed`, `db-primary:host-silenced`, ... */
  readonly name: string;
  /** A host of the model, or a database role resolved when the fault is injected. */
  readonly target: { readonly host: string } | { readonly role: DbRole };
  readonly action: FaultAction;
  readonly goal: Goal;
  /** One line for --list. */
  readonly what: string;
}

const killed = (service: string): FaultAction => ({ kind: 'kill', service });
const SILENCE: FaultAction = { kind: 'silence' };

function suffix(action: FaultAction): string {
  switch (action.kind) {
    case 'kill':
      return `${action.service}-killed`;
    case 'silence':
      return 'host-silenced';
    case 'partition-from-web':
      return 'partitioned-from-web';
  }
}

function fault(target: Fault['target'], action: FaultAction, goal: Goal, what: string): Fault {
  const prefix = 'host' in target ? target.host : target.role;
  return { name: `${prefix}:${suffix(action)}`, target, action, goal, what };
}

/** Every fault the model's topology offers, in the order the whole matrix runs them. */
export function faultCatalog(model: Model): Fault[] {
  const faults: Fault[] = [];
  for (const lb of hostsWithRole(model, 'lb')) {
    const host = { host: lb.name };
    faults.push(
      fault(host, killed('haproxy'), 'idempotent', `${lb.name}'s HAProxy dies (SIGKILL)`),
      fault(host, SILENCE, 'idempotent', `${lb.name} goes silent (links down at the switch)`),
    );
  }
  for (const web of hostsWithRole(model, 'web')) {
    const host = { host: web.name };
    faults.push(
      fault(host, killed('app'), 'idempotent', `${web.name}'s app dies (SIGKILL)`),
      fault(host, killed('nginx'), 'idempotent', `${web.name}'s Nginx dies (SIGKILL)`),
      fault(host, SILENCE, 'idempotent', `${web.name} goes silent (links down at the switch)`),
    );
  }
  const dbs = dbHosts(model);
  if (dbs.length > 0) {
    const primary = { role: 'db-primary' } as const;
    faults.push(
      fault(primary, killed('mariadb'), 'writes', 'the primary database server dies (SIGKILL)'),
      fault(primary, SILENCE, 'writes', 'the primary goes silent (links down at the switch)'),
      fault(
        primary,
        { kind: 'partition-from-web' },
        'writes',
        'the primary and the web servers can no longer reach each other',
      ),
    );
  }
  if (dbs.length > 1)
    faults.push(
      fault({ role: 'db-replica' }, killed('mariadb'), 'writes', 'a replica dies (SIGKILL)'),
    );
  for (const dns of hostsWithRole(model, 'dns'))
    faults.push(
      fault({ host: dns.name }, killed('nsd'), 'resolution', `${dns.name}'s NSD dies (SIGKILL)`),
    );
  for (const mon of hostsWithRole(model, 'mon'))
    faults.push(
      fault(
        { host: mon.name },
        SILENCE,
        'unaffected',
        `${mon.name} goes silent: the site must not notice`,
      ),
    );
  return faults;
}

/** The faults named, in the order given; an unknown name is an error that lists the known ones. */
export function selectFaults(catalog: readonly Fault[], names: readonly string[]): Fault[] {
  if (names.length === 0) return [...catalog];
  const unknown = names.filter((n) => !catalog.some((f) => f.name === n));
  if (unknown.length > 0)
    throw new Error(
      `no fault ${unknown.map((n) => `"${n}"`).join(', ')} in this lab (foobar drill --list shows them)`,
    );
  return names.map((n) => catalog.find((f) => f.name === n)).filter((f) => f !== undefined);
}

/** The host a fault hits now: database roles are read from the lab's state. */
export async function faultHost(ctx: Context, fault: Fault): Promise<Host> {
  const target = fault.target;
  if ('host' in target) {
    const host = findHost(ctx.model, target.host);
    if (host === undefined) throw new Error(`${fault.name}: no host ${target.host}`);
    return host;
  }
  const state = await readDbState(ctx);
  const name = target.role === 'db-primary' ? state.primary : replicasOf(ctx, state)[0]?.name;
  const host = name === undefined ? undefined : findHost(ctx.model, name);
  if (host === undefined) throw new Error(`${fault.name}: the lab has no ${target.role} now`);
  return host;
}

export async function injectFault(ctx: Context, fault: Fault, host: Host): Promise<void> {
  switch (fault.action.kind) {
    case 'kill':
      await killService(ctx, host, fault.action.service);
      return;
    case 'silence':
      await silenceHost(ctx, host);
      return;
    case 'partition-from-web':
      await partition(ctx, [host], hostsWithRole(ctx.model, 'web'));
      return;
  }
}

/** Undoes the fault: links back up, the partition removed, or `up` restarting what was killed. */
export async function healFault(ctx: Context, fault: Fault, host: Host): Promise<void> {
  switch (fault.action.kind) {
    case 'kill':
      await runPlan(upPlan(ctx));
      break;
    case 'silence':
      await restoreHost(ctx, host);
      break;
    case 'partition-from-web':
      await healPartition(ctx, [host]);
      break;
  }
  await rejoinFailedOver(ctx, host);
}

/**
 * A primary the failover managers replaced stays fenced until an operator brings it back: the
 * drill does, as the README tells the operator to (rejoin, reseeding if it holds writes no one
 * acknowledged), and re-arms automatic failover, since it rehearsed the failover it asked for.
 */
async function rejoinFailedOver(ctx: Context, host: Host): Promise<void> {
  if (!(await readDbState(ctx)).fenced.includes(host.name)) return;
  try {
    await rejoin(ctx, host.name);
  } catch (error) {
    if (!(error instanceof ChangeRefused) || !error.message.includes('--reseed')) throw error;
    await rejoin(ctx, host.name, { reseed: true });
  }
  if (ctx.model.failover.automatic) await resumeFailover(ctx);
}
