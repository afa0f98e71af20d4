/**
 * The lab's lock, on its servers (`sharedState`): one command at a time changes the site, whoever
 * runs it from wherever. Taken by renaming a directory that already holds its holder's
 * description onto the lock's path (a rename onto an existing directory fails, so exactly one
 * taker wins and no reader ever sees a lock without its holder), released by removing it. A
 * holder refreshes a heartbeat file inside while it works; a lock is stale when its holder ran on
 * this machine and its process is gone, or when its heartbeat is older than a minute by the
 * server's clock (a laptop that died or lost its network).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { files } from '../commands/files.ts';
import type { Driver, Target } from '../drivers/driver.ts';
import { alive, LockedError, type Holder } from '../lib/lock.ts';
import { sharedState } from '../model/layout.ts';
import type { Context } from './context.ts';

export const HEARTBEAT_MS = 10_000;
/** Six missed heartbeats. */
export const STALE_AFTER_SECONDS = 60;

/** Where a lock lives: a directory on a host, reached through a driver. */
export interface LockPlace {
  readonly driver: Driver;
  readonly target: Target;
  readonly dir: string;
}

export function labLock(ctx: Context): LockPlace {
  const shared = sharedState(ctx.model);
  return { driver: ctx.driver, target: shared.host, dir: shared.lock };
}

const holderFile = (dir: string): string => path.join(dir, 'holder.json');
const heartbeatFile = (dir: string): string => path.join(dir, 'heartbeat');

function where(place: LockPlace): string {
  return place.target === null ? place.dir : `${place.target}:${place.dir}`;
}

function parseHolder(text: string | undefined): Holder | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    return typeof value.pid === 'number' &&
      typeof value.command === 'string' &&
      typeof value.since === 'string'
      ? (value as Holder)
      : undefined;
  } catch {
    return undefined;
  }
}

async function readHolder(place: LockPlace, dir = place.dir): Promise<Holder | undefined> {
  try {
    return parseHolder(await place.driver.readFile(place.target, holderFile(dir)));
  } catch {
    // Not a directory (a lock file of an older foobar): no holder.
    return undefined;
  }
}

const sameHolder = (a: Holder | undefined, b: Holder): boolean =>
  a?.pid === b.pid && a.machine === b.machine && a.since === b.since;

/** Why the holder no longer holds it, or undefined while it does. */
async function staleness(
  place: LockPlace,
  holder: Holder | undefined,
): Promise<string | undefined> {
  if (holder === undefined) return 'no holder recorded';
  if (holder.machine === os.hostname() && holder.pid !== process.pid && !alive(holder.pid))
    return `pid ${holder.pid} is gone`;
  const old = await place.driver.exec(
    place.target,
    files.olderThan(heartbeatFile(place.dir), STALE_AFTER_SECONDS),
    { check: false },
  );
  return old.exitCode === 0 && old.stdout.trim() !== ''
    ? `no heartbeat for ${STALE_AFTER_SECONDS} s`
    : undefined;
}

/** Moves a stale lock aside and removes it, unless another taker replaced it meanwhile. */
async function breakStale(place: LockPlace, stale: Holder | undefined): Promise<void> {
  const aside = `${place.dir}.stale-${randomUUID().slice(0, 8)}`;
  const moved = await place.driver.exec(place.target, files.move(place.dir, aside), {
    check: false,
  });
  if (moved.exitCode !== 0) return;
  const was = await readHolder(place, aside);
  if (stale === undefined ? was === undefined : sameHolder(was, stale)) {
    await place.driver.remove(place.target, aside);
    return;
  }
  // Someone took it between our look and the move: give it back.
  await place.driver.exec(place.target, files.move(aside, place.dir), { check: false });
}

async function acquire(place: LockPlace, me: Holder): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const staging = `${place.dir}.new-${randomUUID().slice(0, 8)}`;
    await place.driver.writeFile(place.target, holderFile(staging), `${JSON.stringify(me)}\n`);
    await place.driver.writeFile(place.target, heartbeatFile(staging), `${me.since}\n`);
    const taken = await place.driver.exec(place.target, files.move(staging, place.dir), {
      check: false,
    });
    if (taken.exitCode === 0) return;
    await place.driver.remove(place.target, staging);
    const holder = await readHolder(place);
    const stale = await staleness(place, holder);
    if (holder !== undefined && stale === undefined) throw new LockedError(where(place), holder);
    if (attempt >= 2)
      throw new Error(
        `${where(place)}: cannot take the lock (${stale ?? 'unknown'}): remove it by hand if no foobar runs`,
      );
    await breakStale(place, holder);
  }
}

/** Runs `work` holding the lock; releases it afterwards, also on failure. */
export async function withLabLock<T>(
  place: LockPlace,
  command: string,
  work: () => Promise<T>,
  lets: readonly string[] = [],
): Promise<T> {
  const me: Holder = {
    pid: process.pid,
    command,
    since: new Date().toISOString(),
    user: process.env.SUDO_USER ?? os.userInfo().username,
    machine: os.hostname(),
    ...(lets.length === 0 ? {} : { lets }),
  };
  await acquire(place, me);
  // The last heartbeat's write, awaited before the release: one still under way would make the
  // lock's directory again (writeFile makes parents) after it is gone.
  let beating = Promise.resolve();
  const heartbeat = setInterval(() => {
    beating = place.driver
      .writeFile(place.target, heartbeatFile(place.dir), `${new Date().toISOString()}\n`)
      .catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  try {
    return await work();
  } finally {
    clearInterval(heartbeat);
    await beating;
    if (sameHolder(await readHolder(place), me)) await place.driver.remove(place.target, place.dir);
  }
}

/**
 * Runs `work` holding the lock, or without it when its live holder lets `what` happen meanwhile;
 * throws LockedError otherwise.
 */
export async function withLabLockOrLeave<T>(
  place: LockPlace,
  command: string,
  what: string,
  work: () => Promise<T>,
): Promise<T> {
  const progress = { started: false };
  try {
    return await withLabLock(place, command, () => {
      progress.started = true;
      return work();
    });
  } catch (error) {
    const lets = error instanceof LockedError && error.holder.lets?.includes(what) === true;
    if (!progress.started && lets) return work();
    throw error;
  }
}
