/**
 * A lock file on this machine (the test machines' image build takes it). A lock whose holder
 * died is taken over; a live holder is named in the error, with how long it has held it. The
 * lab's own lock lives on its servers: src/steps/lock.ts.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

export interface Holder {
  readonly pid: number;
  readonly command: string;
  readonly since: string;
  /**
   * Work the holder lets others do meanwhile: `foobar drill` holds the lab so no deploy or `up`
   * runs, yet expects the failover managers to act on the faults it injects.
   */
  readonly lets?: readonly string[];
  /** Who and where, for a lock on the servers that operators on several machines share. */
  readonly user?: string;
  readonly machine?: string;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(file: string): Promise<Holder | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

export class LockedError extends Error {
  readonly holder: Holder;

  constructor(file: string, holder: Holder) {
    const who =
      holder.user === undefined || holder.machine === undefined
        ? ''
        : `, run by ${holder.user} on ${holder.machine}`;
    super(
      `another foobar is changing this lab: \`${holder.command}\` (pid ${holder.pid}) has held ${file} since ${holder.since}${who}. ` +
        'Wait for it to finish.',
    );
    this.name = 'LockedError';
    this.holder = holder;
  }
}

/** Runs `work` holding the lock file; releases it afterwards, also on failure. */
export async function withLock<T>(
  file: string,
  command: string,
  work: () => Promise<T>,
  lets: readonly string[] = [],
): Promise<T> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const me: Holder = {
    pid: process.pid,
    command,
    since: new Date().toISOString(),
    ...(lets.length === 0 ? {} : { lets }),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.writeFile(file, JSON.stringify(me), { flag: 'wx', mode: 0o644 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw error;
      const holder = await readHolder(file);
      if (holder !== undefined && holder.pid !== process.pid && alive(holder.pid))
        throw new LockedError(file, holder);
      // The holder is gone (or the file is torn): the lock is stale.
      await fs.rm(file, { force: true });
    }
  }
  try {
    return await work();
  } finally {
    const holder = await readHolder(file);
    if (holder?.pid === process.pid) await fs.rm(file, { force: true });
  }
}
