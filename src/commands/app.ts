/** The app's process: the release's bundled server on the platform's Node.js (run unprivileged). */
import path from 'node:path';
import type { Command } from '../drivers/driver.ts';

/**
 * V8's heap for the app: a young generation of 8 MB semi-spaces (default 16) and an old one
 * capped at 128 MB. With V8's defaults an app under database-bound load grew to 190 MB; with
 * these, 100 MB at the same rate (wrk -c64 on /api/whoami for 36 s, three instances side by
 * side on web-01). The app holds a page of messages and a connection pool: its live heap is a
 * few MB, far from the cap.
 */
export const APP_V8_FLAGS = ['--max-semi-space-size=8', '--max-old-space-size=128'] as const;

export const app = {
  start: (runtime: string, releaseDir: string): Command => ({
    argv: [runtime, ...APP_V8_FLAGS, path.join(releaseDir, 'server.mjs')],
  }),
};
