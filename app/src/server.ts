/**
 * Entry point of a release: `node server.mjs` on a web server, started by foobar with its settings in
 * the environment. Exits cleanly on SIGTERM after draining its connections.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { buildApp } from './app.ts';
import { configFromEnv } from './config.ts';
import { createStore } from './db/store.ts';

const releaseDir = path.dirname(fileURLToPath(import.meta.url));
const config = configFromEnv(process.env, releaseDir);
const logger = pino(
  { base: { server: config.server, release: config.release } },
  pino.destination({ dest: config.logFile ?? 1, mkdir: true, sync: false }),
);
const store = createStore({
  topologyFile: config.dbTopologyFile,
  passwordFile: config.dbPasswordFile,
  readWaitMs: config.readWaitMs,
  logger,
});
const { app, state } = buildApp({ ...config, store, logger });

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  state.draining = true;
  logger.info({ signal }, 'draining connections');
  // Stop accepting, close idle keep-alive connections, let in-flight requests finish.
  await app.close();
  await store.close();
  logger.info('stopped');
  logger.flush();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

await app.listen({ host: config.host, port: config.port });
logger.info({ host: config.host, port: config.port, pid: process.pid }, 'listening');
