/** curl, for probes and tests: from inside a host, as a user there would see it. */
import type { Command } from '../drivers/driver.ts';

export interface CurlOptions {
  readonly timeoutSeconds?: number;
  readonly headers?: readonly string[];
  readonly method?: string;
  readonly body?: string;
  /** Extra curl flags (e.g. --cacert, --http2); kept as argv, never a string. */
  readonly flags?: readonly string[];
}

/** Prints `<status> <time_total>` on the last line, the body before it. */
export const STATUS_FORMAT = '\n%{http_code} %{time_total}';

export const curl = {
  request: (url: string, options: CurlOptions = {}): Command => ({
    argv: [
      'curl',
      '-sS',
      '--max-time',
      String(options.timeoutSeconds ?? 2),
      ...(options.method === undefined ? [] : ['-X', options.method]),
      ...(options.headers ?? []).flatMap((h) => ['-H', h]),
      ...(options.body === undefined ? [] : ['--data-binary', '@-']),
      ...(options.flags ?? []),
      '-w',
      STATUS_FORMAT,
      url,
    ],
    ...(options.body === undefined ? {} : { input: options.body }),
    timeoutMs: ((options.timeoutSeconds ?? 2) + 3) * 1000,
    // Foobar's probes only GET; a POST (etcd's gateway, the app's writes) may change something.
    readOnly: options.method === undefined && options.body === undefined,
  }),
};

export interface CurlResult {
  readonly status: number;
  readonly seconds: number;
  readonly body: string;
}

export function parseCurlOutput(stdout: string): CurlResult {
  const cut = stdout.lastIndexOf('\n');
  const [status, seconds] = stdout.slice(cut + 1).split(' ');
  return {
    status: Number(status),
    seconds: Number(seconds),
    body: stdout.slice(0, Math.max(cut, 0)),
  };
}
