/**
 * db.json: which database server is the primary and which are replicas. foobar writes it on every
 * web server (atomically, by rename) and rewrites it when the primary changes; the app watches it
 * and follows without a restart.
 */
import { watch, watchFile, unwatchFile, readFileSync, type FSWatcher } from 'node:fs';
import path from 'node:path';

export interface DbServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** The name its certificate carries, verified when the topology names a CA. */
  readonly tlsName?: string;
}

export interface Topology {
  /** Grows with every change of primary. */
  readonly epoch: number;
  readonly schema: string;
  readonly user: string;
  readonly primary: DbServer;
  readonly replicas: readonly DbServer[];
  /** The CA's certificate (a file): connections are TLS, each server verified by its address. */
  readonly ca?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function server(value: unknown, where: string): DbServer {
  if (
    !isRecord(value) ||
    typeof value.name !== 'string' ||
    typeof value.host !== 'string' ||
    typeof value.port !== 'number'
  ) {
    throw new Error(`${where}: expected {name, host, port}`);
  }
  if (value.tlsName !== undefined && typeof value.tlsName !== 'string')
    throw new Error(`${where}/tlsName: expected a name`);
  return {
    name: value.name,
    host: value.host,
    port: value.port,
    ...(value.tlsName === undefined ? {} : { tlsName: value.tlsName }),
  };
}

export function parseTopology(text: string): Topology {
  const value: unknown = JSON.parse(text);
  if (!isRecord(value)) throw new Error('expected an object');
  const { epoch, schema, user, primary, replicas, ca } = value;
  if (typeof epoch !== 'number' || typeof schema !== 'string' || typeof user !== 'string')
    throw new Error('expected epoch, schema and user');
  if (!Array.isArray(replicas)) throw new Error('replicas: expected a list');
  if (ca !== undefined && typeof ca !== 'string') throw new Error('ca: expected a file name');
  return {
    epoch,
    schema,
    user,
    primary: server(primary, 'primary'),
    replicas: replicas.map((r: unknown, i) => server(r, `replicas/${i}`)),
    ...(ca === undefined ? {} : { ca }),
  };
}

export function readTopology(file: string): Topology {
  return parseTopology(readFileSync(file, 'utf8'));
}

/**
 * Calls `onChange` when the file may have changed: at once through inotify on its directory
 * (foobar replaces the file by rename), and by polling every second in case an event is missed.
 */
export function watchSettingsFile(file: string, onChange: () => void): () => void {
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path.dirname(file), { persistent: false }, (_event, name) => {
      if (name === null || name === path.basename(file)) onChange();
    });
  } catch {
    watcher = undefined;
  }
  watchFile(file, { interval: 1000, persistent: false }, onChange);
  return () => {
    watcher?.close();
    unwatchFile(file, onChange);
  };
}
