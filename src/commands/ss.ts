/** Who listens where, inside a host. */
import type { Command } from '../drivers/driver.ts';

export const ss = {
  /** TCP listeners on a port, with their processes: `LISTEN ... users:(("nginx",pid=12,fd=6))`. */
  listeners: (port: number): Command => ({
    argv: ['ss', '-H', '-l', '-t', '-n', '-p', 'sport', '=', `:${port}`],
  }),
};

/** The processes named in ss output: pid and program name. */
export function parseListeners(output: string): { pid: number; program: string }[] {
  const found = new Map<number, string>();
  for (const match of output.matchAll(/\("([^"]*)",pid=(\d+),/g)) {
    found.set(Number(match[2]), match[1] ?? '');
  }
  return [...found].map(([pid, program]) => ({ pid, program }));
}
