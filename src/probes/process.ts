/** A process's workers, read from /proc on its host (any Linux host: the lab's or a machine). */
import type { Driver, Target } from '../drivers/driver.ts';
import { waitFor } from '../lib/wait.ts';

/** PIDs of the direct children of a process (its workers, for HAProxy and Nginx masters). */
export async function childPids(driver: Driver, target: Target, pid: number): Promise<number[]> {
  const text = await driver.readFile(target, `/proc/${pid}/task/${pid}/children`);
  return (text ?? '')
    .split(' ')
    .filter((s) => s.trim() !== '')
    .map(Number);
}

/**
 * A reload of a master-workers daemon is over once new workers run and, if it drains, the old ones
 * have exited (they may hold the old config's upstreams). `send` delivers the reload.
 */
export async function reloadWorkers(
  driver: Driver,
  daemon: { readonly host: string; readonly service: string; readonly reloadDrains?: boolean },
  pid: number,
  send: () => Promise<void>,
): Promise<void> {
  const before = new Set(await childPids(driver, daemon.host, pid));
  await send();
  await waitFor(
    `${daemon.host}: ${daemon.service} reload`,
    async () => {
      const now = await childPids(driver, daemon.host, pid);
      return now.some((child) => !before.has(child)) ? undefined : 'no new workers yet';
    },
    { timeoutMs: 10_000 },
  );
  if (daemon.reloadDrains === true) {
    await waitFor(
      `${daemon.host}: ${daemon.service}'s old workers to finish`,
      async () => {
        const now = await childPids(driver, daemon.host, pid);
        const left = now.filter((child) => before.has(child));
        return left.length === 0 ? undefined : `${left.length} still running`;
      },
      { timeoutMs: 20_000 },
    );
  }
}
