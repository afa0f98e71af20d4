/** Polling with a deadline: for conditions that have no event to wait on (a daemon becoming ready). */
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** The interval grows by half each time up to this (500 ms by default). */
  readonly maxIntervalMs?: number;
}

/**
 * Calls `probe` until it returns undefined (done). Otherwise it returns why not yet, and the last
 * reason is the error message at the deadline.
 */
export async function waitFor(
  what: string,
  probe: () => Promise<string | undefined>,
  options: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let interval = options.intervalMs ?? 50;
  for (;;) {
    const reason = await probe();
    if (reason === undefined) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `${what}: still not ready after ${(options.timeoutMs / 1000).toFixed(1)} s (${reason})`,
      );
    }
    await sleep(interval);
    interval = Math.min(interval * 1.5, options.maxIntervalMs ?? 500);
  }
}
