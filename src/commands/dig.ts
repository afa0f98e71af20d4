/** dig, the DNS client: what a resolver on a host gets from a name server. */
import type { Command } from '../drivers/driver.ts';

export interface DigOptions {
  readonly port?: number;
  readonly tcp?: boolean;
  /** Only the answer's data, one record per line. */
  readonly short?: boolean;
}

export const dig = {
  query: (server: string, name: string, type: string, options: DigOptions = {}): Command => ({
    argv: [
      'dig',
      '+time=1',
      '+tries=1',
      ...(options.tcp === true ? ['+tcp'] : []),
      ...(options.short === true ? ['+short'] : []),
      ...(options.port === undefined ? [] : ['-p', String(options.port)]),
      `@${server}`,
      name,
      type,
    ],
    timeoutMs: 5000,
    readOnly: true,
  }),
};

/** The status and flags of a dig answer ("NOERROR", ["qr", "aa"]), from its header lines. */
export function parseDigHeader(stdout: string): { status?: string; flags: string[] } {
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1];
  const flags = /;; flags: ([a-z ]+);/.exec(stdout)?.[1]?.trim().split(' ') ?? [];
  return { ...(status === undefined ? {} : { status }), flags };
}
