/**
 * Entry point of the dashboard's server on the monitoring host:
 * `node server.mjs /path/to/dashboard.json`, started and stopped (SIGTERM) by foobar.
 */
import { readFileSync } from 'node:fs';
import type { ServerConfig } from './config.ts';
import { startDashboard } from './server.ts';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: server.mjs CONFIG.json');
const config = JSON.parse(readFileSync(file, 'utf8')) as ServerConfig;
const running = await startDashboard(config);
console.log(
  `dashboard (build ${config.build}) on http://${config.listen.host}:${running.ports.page}/ for ${config.allow.join(', ')}; ` +
    `notifications on http://${config.webhook.host}:${running.ports.webhook} into ${config.alertLog}`,
);
process.on('SIGTERM', () => {
  void running.close().then(() => process.exit(0));
});
