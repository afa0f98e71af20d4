/**
 * Who is the primary now. foobar.yaml names the primary of a new lab; promote and switchover
 * change it, so the current one is kept in the lab's state (database.json) and every step reads
 * it from there. A fenced server was a primary that was replaced while it was down: it must not
 * serve until `foobar db rejoin` makes it a replica.
 */
import path from 'node:path';
import { dbHosts } from '../../model/database.ts';
import { labPaths, sharedState } from '../../model/layout.ts';
import { findHost, type Host } from '../../model/model.ts';
import type { Context } from '../context.ts';

export type DbRole = 'primary' | 'replica' | 'fenced' | 'restored';

export interface DbEvent {
  readonly at: string;
  readonly action: 'promote' | 'switchover' | 'rejoin' | 'restore';
  readonly host: string;
  /** The primary before, for promote and switchover. */
  readonly from?: string;
  /** The GTID position at which the new primary took over. */
  readonly gtid?: string;
}

export interface DbState {
  readonly primary: string;
  readonly fenced: readonly string[];
  /** Grows with every change of primary; the app's topology file carries it. */
  readonly epoch: number;
  readonly history: readonly DbEvent[];
  /**
   * Hosts a change of primary could not reach in time (a silent machine): their firewall, their
   * app's settings, or (a fenced former primary) the kill of its server are owed, and a web server
   * among them is out of every load balancer's rotation until then. `foobar up` and
   * `foobar db rejoin` finish what is owed (healUnreached).
   */
  readonly unreached?: readonly string[];
  /**
   * Servers restored to an earlier point (`foobar db restore --to`): they run on the recovered
   * data, replicating from no one, for the operator to inspect. No backup, promotion or
   * switchover uses them; `foobar db rejoin` makes one a replica again (a fresh copy).
   */
  readonly restored?: readonly RestoredServer[];
}

export interface RestoredServer {
  readonly host: string;
  /** The point it was restored to: `time=ISO` or `gtid=LIST`. */
  readonly point: string;
  /** Its GTID position once restored ('' while the restore runs). */
  readonly gtid: string;
  readonly at: string;
  /** Where its data directory from before the restore was kept. */
  readonly aside?: string;
}

/** Where database.json is: beside the lock (on machines the monitor's, model/layout.ts). */
function stateFile(ctx: Context): string {
  const shared = sharedState(ctx.model);
  return shared.host === null ? shared.database : `${shared.host}:${shared.database}`;
}

/**
 * A foobar before this one kept database.json in this machine's state directory on machines
 * too: read from there while the shared one does not exist yet, and moved beside the lock.
 */
async function migrated(ctx: Context): Promise<DbState | undefined> {
  const shared = sharedState(ctx.model);
  if (shared.host === null) return undefined;
  const old = path.join(labPaths(ctx.model).state, 'database.json');
  const text = await ctx.driver.readFile(null, old);
  if (text === undefined) return undefined;
  const state = JSON.parse(text) as DbState;
  await writeDbState(ctx, state);
  await ctx.driver.remove(null, old);
  return state;
}

export async function readDbState(ctx: Context): Promise<DbState> {
  const shared = sharedState(ctx.model);
  return parsedDbState(ctx, await ctx.driver.readFile(shared.host, shared.database));
}

/** database.json's text (undefined: none yet) as the state it says. */
async function parsedDbState(ctx: Context, text: string | undefined): Promise<DbState> {
  if (text === undefined) {
    return (
      (await migrated(ctx)) ?? {
        primary: ctx.model.database.initialPrimary,
        fenced: [],
        epoch: 1,
        history: [],
      }
    );
  }
  return JSON.parse(text) as DbState;
}

/** database.json for a daemon that reads it every round: see followDbState. */
export interface DbStateSource {
  read(): Promise<DbState>;
  close(): void;
}

/**
 * database.json for a daemon that reads it every round (a failover manager five times a second,
 * the backup agent every second). On machines one SSH session streams it to the daemon when it
 * changes (Driver.follow) instead of a session per read; while that session has nothing recent
 * (starting, broken, the monitor silent), each read is readDbState's.
 */
export function followDbState(ctx: Context, everyMs: number): DbStateSource {
  const shared = sharedState(ctx.model);
  const follower =
    shared.host === null ? undefined : ctx.driver.follow?.(shared.host, shared.database, everyMs);
  return {
    read: async () => {
      const seen = follower?.latest();
      return seen === undefined ? readDbState(ctx) : parsedDbState(ctx, seen.text);
    },
    close: () => follower?.close(),
  };
}

export async function writeDbState(ctx: Context, state: DbState): Promise<void> {
  const shared = sharedState(ctx.model);
  await ctx.driver.writeFile(shared.host, shared.database, `${JSON.stringify(state, null, 2)}\n`);
}

export function roleOf(state: DbState, host: string): DbRole {
  if (state.primary === host) return 'primary';
  if (state.fenced.includes(host)) return 'fenced';
  return (state.restored ?? []).some((r) => r.host === host) ? 'restored' : 'replica';
}

/** The db hosts that replicate from the primary now (neither the primary, fenced nor restored). */
export function replicasOf(ctx: Context, state: DbState): Host[] {
  return dbHosts(ctx.model).filter((h) => roleOf(state, h.name) === 'replica');
}

export function primaryHost(ctx: Context, state: DbState): Host {
  const host = findHost(ctx.model, state.primary);
  if (host?.roles.includes('db') !== true) {
    throw new Error(
      `${stateFile(ctx)} says ${state.primary} is the primary, but it is not a db host of this config: ` +
        'put it back in foobar.yaml, or `foobar db promote` another db host first',
    );
  }
  return host;
}

/** A db host of the model, or an error that lists them. */
export function requireDbHost(ctx: Context, name: string): Host {
  const host = findHost(ctx.model, name);
  if (host?.roles.includes('db') !== true) {
    const names = dbHosts(ctx.model).map((h) => h.name);
    throw new Error(`"${name}" is not a database host (those are: ${names.join(', ')})`);
  }
  return host;
}
