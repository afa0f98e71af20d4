/** The app's process: the release's bundled server on the platform's Node.js (run unprivileged). */
import path from 'node:path';
import type { Command } from '../drivers/driver.ts';

export const app = {
  start: (runtime: string, releaseDir: string): Command => ({
    argv: [runtime, path.join(releaseDir, 'server.mjs')],
  }),
};
