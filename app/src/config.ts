/** The app's settings, from the environment foobar gives it on each web server. */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface AppConfig {
  /** The web server's name, for X-Served-By and the home page. */
  readonly server: string;
  /** The release id, from the release's manifest. */
  readonly release: string;
  readonly host: string;
  readonly port: number;
  readonly keepAliveTimeoutMs: number;
  /** Addresses allowed to set X-Forwarded-For / -Proto (Nginx on loopback, the load balancers). */
  readonly trustProxy: readonly string[];
  /** JSON log lines go here; stdout when unset. */
  readonly logFile: string | undefined;
  /** db.json: the database servers, rewritten by foobar when the primary changes. */
  readonly dbTopologyFile: string;
  /** The app's database password (a 0600 file). */
  readonly dbPasswordFile: string;
  /** How long a read waits for a replica to have the reader's last write. */
  readonly readWaitMs: number;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '')
    throw new Error(`${name} is not set: foobar sets it when it starts the app`);
  return value;
}

/** The release id is the manifest's; in development (no manifest) it is "dev". */
export function readReleaseId(dir: string): string {
  try {
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
      id?: unknown;
    };
    return typeof manifest.id === 'string' ? manifest.id : 'dev';
  } catch {
    return 'dev';
  }
}

export function configFromEnv(env: NodeJS.ProcessEnv, releaseDir: string): AppConfig {
  const port = Number(required(env, 'FOOBAR_APP_PORT'));
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`FOOBAR_APP_PORT is not a port: ${port}`);
  return {
    server: required(env, 'FOOBAR_SERVER'),
    release: readReleaseId(releaseDir),
    host: env.FOOBAR_APP_HOST ?? '127.0.0.1',
    port,
    keepAliveTimeoutMs: Number(env.FOOBAR_KEEPALIVE_SECONDS ?? '75') * 1000,
    trustProxy: (env.FOOBAR_TRUST_PROXY ?? '127.0.0.1').split(',').filter((s) => s !== ''),
    logFile: env.FOOBAR_LOG_FILE,
    dbTopologyFile: required(env, 'FOOBAR_DB_TOPOLOGY'),
    dbPasswordFile: required(env, 'FOOBAR_DB_PASSWORD_FILE'),
    readWaitMs: Number(env.FOOBAR_DB_READ_WAIT_MS ?? '500'),
  };
}
