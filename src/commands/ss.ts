/** Who listens where, and what established connections last heard, inside a host. */
import type { Command } from '../drivers/driver.ts';

export const ss = {
  /** TCP listeners on a port, with their processes: `LISTEN ... users:(("nginx",pid=12,fd=6))`. */
  listeners: (port: number): Command => ({
    argv: ['ss', '-H', '-l', '-t', '-n', '-p', 'sport', '=', `:${port}`],
    readOnly: true,
  }),
  /** Established TCP connections to address:port, with the kernel's counters (`lastrcv:MS`). */
  connectionsTo: (address: string, port: number): Command => ({
    argv: [
      'ss',
      '-H',
      '-t',
      '-n',
      '-i',
      'state',
      'established',
      'dst',
      address,
      'dport',
      '=',
      `:${port}`,
    ],
  }),
};

/**
 * Milliseconds since each connection in `ss -i` output last received data (the kernel's own
 * clock, `lastrcv`), most recent first; empty when there is no connection.
 */
export function parseLastReceived(output: string): number[] {
  return [...output.matchAll(/\blastrcv:(\d+)/g)]
    .map((match) => Number(match[1]))
    .sort((a, b) => a - b);
}

/** The processes named in ss output: pid and program name. */
export function parseListeners(output: string): { pid: number; program: string }[] {
  const found = new Map<number, string>();
  for (const match of output.matchAll(/\("([^"]*)",pid=(\d+),/g)) {
    found.set(Number(match[2]), match[1] ?? '');
  }
  return [...found].map(([pid, program]) => ({ pid, program }));
}
