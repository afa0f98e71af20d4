/**
 * The lab's log rotator: `node src/platform/lab/rotator.ts <config.json>`, started by `foobar up`
 * on the monitor host (see steps/logs.ts). Every `intervalMs` it keeps each host's logs under the
 * cap (see logs.ts) and writes a heartbeat that its probe reads. It loads no model: `up` gives it
 * the files, so it stays a small process (the fs module and little else).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { rotateHostLogs, type RotatorConfig } from './logs.ts';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: rotator.ts <config.json>');
const config = JSON.parse(readFileSync(file, 'utf8')) as RotatorConfig;
// Stopped between passes at once; during one, once it is done (no half-copied file is left).
const state = { busy: false, stopping: false };
// Each live file's size at the last pass, per host: how fast the host's logs grow.
const seen = new Map(config.hosts.map((h) => [h.host, new Map<string, number>()]));
const stop = (): void => {
  if (!state.busy) process.exit(0);
  state.stopping = true;
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdout.write(
  `log rotator: ${config.hosts.length} hosts, each under ${config.settings.maxMegabytesPerHost} MB\n`,
);
while (!state.stopping) {
  const started = Date.now();
  state.busy = true;
  for (const host of config.hosts) {
    try {
      for (const line of await rotateHostLogs(config, host, new Date(), seen.get(host.host)))
        process.stdout.write(`${new Date().toISOString()} ${line}\n`);
    } catch (error) {
      process.stdout.write(
        `${new Date().toISOString()} ${host.host}: ${(error as Error).message}\n`,
      );
    }
  }
  // Written aside and renamed: a reader (status, up) never sees a half-written heartbeat.
  writeFileSync(`${config.heartbeat}.new`, `${JSON.stringify({ at: new Date().toISOString() })}\n`);
  renameSync(`${config.heartbeat}.new`, config.heartbeat);
  state.busy = false;
  const wait = Math.max(100, config.intervalMs - (Date.now() - started));
  await new Promise((resolve) => setTimeout(resolve, wait));
}
process.exit(0);
