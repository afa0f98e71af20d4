/** Process signals. A PID is only ever signalled after it was checked to be ours. */
import type { Command } from '../drivers/driver.ts';

export type Signal = 'TERM' | 'KILL' | 'QUIT' | 'HUP' | 'USR1' | 'USR2';

export const proc = {
  kill: (signal: Signal, pid: number): Command => ({ argv: ['kill', '-s', signal, String(pid)] }),
};

/** Runs `argv` as an unprivileged user (with its groups) instead of root. */
export function asUser(user: string, argv: readonly string[]): string[] {
  return ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', '--', ...argv];
}
