/** Nginx command lines: one instance per host, every path explicit (-p, -c, -e). */
import type { Command } from '../drivers/driver.ts';

export interface NginxFiles {
  readonly prefix: string;
  readonly config: string;
  readonly errorLog: string;
}

function base(files: NginxFiles): string[] {
  return ['nginx', '-p', files.prefix, '-c', files.config, '-e', files.errorLog];
}

export const nginx = {
  check: (files: NginxFiles): Command => ({ argv: [...base(files), '-t', '-q'] }),
  /** In the foreground: foobar detaches it and keeps its PID, as for every daemon. */
  start: (files: NginxFiles): Command => ({ argv: [...base(files), '-g', 'daemon off;'] }),
};
