/** NSD, the authoritative DNS server, and its own checkers. */
import type { Command } from '../drivers/driver.ts';

export const nsd = {
  checkConfig: (config: string): Command => ({ argv: ['nsd-checkconf', config] }),
  checkZone: (origin: string, zoneFile: string): Command => ({
    argv: ['nsd-checkzone', origin, zoneFile],
  }),
  /** In the foreground (-d): foobar detaches it and keeps its PID. */
  start: (config: string): Command => ({ argv: ['nsd', '-d', '-c', config] }),
};
