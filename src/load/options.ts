/** What every bounded load from a lab host takes: a URL, a duration (capped), a concurrency. */

export interface LoadBounds {
  readonly url: string;
  readonly seconds: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
}

/** parseArgs options shared by the loads; each adds its own. */
export function loadArgOptions(defaults: { concurrency: string; timeoutMs: string }) {
  return {
    url: { type: 'string' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: defaults.concurrency },
    'timeout-ms': { type: 'string', default: defaults.timeoutMs },
  } as const;
}

export function loadBounds(
  values: {
    readonly url?: string | undefined;
    readonly seconds: string;
    readonly concurrency: string;
    readonly 'timeout-ms': string;
  },
  maxConcurrency: number,
): LoadBounds {
  if (values.url === undefined) throw new Error('--url is required');
  const seconds = Number(values.seconds);
  // Every load is bounded in time: at most ten minutes.
  if (!(seconds > 0 && seconds <= 600)) throw new Error('--seconds must be between 0 and 600');
  return {
    url: values.url,
    seconds,
    concurrency: Math.max(1, Math.min(maxConcurrency, Number(values.concurrency))),
    timeoutMs: Number(values['timeout-ms']),
  };
}
