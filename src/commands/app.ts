/** The app's process: the release's bundled server on the lab's Node.js, as an unprivileged user. */
import path from 'node:path';
import type { Command } from '../drivers/driver.ts';
import { asUser } from './proc.ts';

export const app = {
  start: (runtime: string, releaseDir: string, user: string): Command => ({
    argv: asUser(user, [runtime, path.join(releaseDir, 'server.mjs')]),
  }),
};
