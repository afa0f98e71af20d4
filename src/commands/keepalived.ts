/** keepalived (VRRP) command lines. */
import type { Command } from '../drivers/driver.ts';

export const keepalived = {
  /**
   * The config test. It needs the host's interfaces (it refuses a config naming one that does
   * not exist), so it runs on the host.
   */
  check: (config: string): Command => ({ argv: ['keepalived', '--config-test', '-f', config] }),
  /**
   * VRRP only, in the foreground (-n): foobar detaches it and keeps its PID. Logs go to its
   * output (-l -D), not to syslog (-G). Its own pid files are per host, apart from foobar's:
   * keepalived refuses to start when its pid file names a live process.
   */
  start: (config: string, pidFiles: { main: string; vrrp: string }): Command => ({
    argv: [
      'keepalived',
      '--vrrp',
      '--dont-fork',
      '--log-console',
      '--log-detail',
      '--no-syslog',
      '--use-file',
      config,
      '--pid',
      pidFiles.main,
      '--vrrp_pid',
      pidFiles.vrrp,
    ],
  }),
};
