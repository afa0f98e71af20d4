/**
 * The app's database access: writes on the primary, reads on a replica (round-robin; the primary
 * only when no replica answers), and read-your-writes: a reader that brings the GTID of its last
 * write waits briefly for the replica to have it, or reads from the primary.
 *
 * A write that was certainly not executed (no connection to the primary, or the primary refused it
 * as read-only during a switchover) is retried against the current primary for a few seconds; a
 * write whose connection died midway has an unknown outcome and is never retried.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { readTopology, watchTopologyFile, type DbServer, type Topology } from './topology.ts';

export interface Message {
  readonly id: number;
  readonly text: string;
  readonly createdAt: string;
}

export interface Written {
  readonly message: Message;
  /** The GTID of the write's transaction, for read-your-writes. */
  readonly gtid: string;
  /** The database server that took the write. */
  readonly server: string;
}

export interface Read {
  readonly messages: readonly Message[];
  readonly server: string;
}

export interface Store {
  insertMessage(text: string): Promise<Written>;
  /** The newest messages; with `after`, from a server that has that GTID. */
  listMessages(limit: number, after?: string): Promise<Read>;
  /** Which server answers reads and which writes now (null: none does). */
  whoami(): Promise<{ read: string | null; write: string | null }>;
  /** Undefined when the primary takes writes; otherwise why it does not. */
  writeProblem(): Promise<string | undefined>;
  close(): Promise<void>;
}

/** The database cannot serve the request now: the app answers 503. */
export class DbUnavailable extends Error {
  override name = 'DbUnavailable';
}

export interface StoreLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface StoreOptions {
  readonly topologyFile: string;
  readonly passwordFile: string;
  readonly readWaitMs: number;
  readonly logger: StoreLogger;
  /** How long a write that was certainly not executed is retried (default 4 s). */
  readonly writeRetryMs?: number;
}

/** A replica that failed is skipped for this long before it is tried again. */
const REPLICA_RETRY_MS = 1000;
/** MariaDB's "read-only" refusal (ER_OPTION_PREVENTS_STATEMENT): the statement did not run. */
const ER_OPTION_PREVENTS_STATEMENT = 1290;

interface Server {
  readonly server: DbServer;
  readonly pool: Pool;
  downUntil: number;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function errnoOf(error: unknown): number | undefined {
  const errno = (error as { errno?: unknown }).errno;
  return typeof errno === 'number' ? errno : undefined;
}

const MESSAGE_COLUMNS = 'id, text, DATE_FORMAT(created_at, "%Y-%m-%dT%H:%i:%s.%fZ") AS createdAt';

interface MessageRow extends RowDataPacket {
  id: number;
  text: string;
  createdAt: string;
}

function toMessage(row: MessageRow): Message {
  // %f prints microseconds; the column keeps milliseconds.
  return {
    id: row.id,
    text: row.text,
    createdAt: row.createdAt.replace(/(\.\d{3})\d{3}Z$/, '$1Z'),
  };
}

export function createStore(options: StoreOptions): Store {
  const servers = new Map<string, Server>();
  let topology: Topology | undefined;
  let topologyError = 'no topology yet';
  let password = '';
  let next = 0;

  const keyOf = (s: DbServer): string => `${s.name}@${s.host}:${s.port}`;

  function load(): void {
    let fresh: Topology;
    try {
      fresh = readTopology(options.topologyFile);
      password = readFileSync(options.passwordFile, 'utf8').trim();
    } catch (error) {
      topologyError = `cannot read the database settings: ${reason(error)}`;
      options.logger.warn({ error: reason(error) }, 'database settings unreadable');
      return;
    }
    if (topology !== undefined && fresh.epoch < topology.epoch) return;
    const changed = topology === undefined || JSON.stringify(fresh) !== JSON.stringify(topology);
    topology = fresh;
    if (!changed) return;
    const wanted = new Set([fresh.primary, ...fresh.replicas].map(keyOf));
    for (const [key, entry] of servers) {
      if (wanted.has(key)) continue;
      servers.delete(key);
      void entry.pool.end().catch(() => undefined);
    }
    for (const server of [fresh.primary, ...fresh.replicas]) {
      if (servers.has(keyOf(server))) continue;
      servers.set(keyOf(server), {
        server,
        downUntil: 0,
        pool: mysql.createPool({
          host: server.host,
          port: server.port,
          user: fresh.user,
          password,
          database: fresh.schema,
          charset: 'UTF8MB4_UNICODE_CI',
          connectionLimit: 16,
          maxIdle: 4,
          idleTimeout: 30_000,
          connectTimeout: 1000,
          enableKeepAlive: true,
        }),
      });
    }
    options.logger.info(
      {
        epoch: fresh.epoch,
        primary: fresh.primary.name,
        replicas: fresh.replicas.map((r) => r.name),
      },
      'database topology',
    );
  }

  load();
  const unwatch = watchTopologyFile(options.topologyFile, load);

  function entryOf(server: DbServer): Server {
    const entry = servers.get(keyOf(server));
    if (entry === undefined) throw new DbUnavailable(`no pool for ${server.name}`);
    return entry;
  }

  function current(): Topology {
    if (topology === undefined) throw new DbUnavailable(topologyError);
    return topology;
  }

  /** Replicas that have not failed lately, starting with the next one in turn. */
  function readableReplicas(): Server[] {
    const replicas = current().replicas.map(entryOf);
    const start = next++ % Math.max(1, replicas.length);
    return [...replicas.slice(start), ...replicas.slice(0, start)].filter(
      (r) => r.downUntil <= Date.now(),
    );
  }

  async function withConnection<T>(
    entry: Server,
    work: (conn: PoolConnection) => Promise<T>,
  ): Promise<T> {
    const conn = await entry.pool.getConnection();
    try {
      const result = await work(conn);
      conn.release();
      return result;
    } catch (error) {
      conn.destroy();
      throw error;
    }
  }

  async function selectMessages(conn: PoolConnection, limit: number): Promise<Message[]> {
    const [rows] = await conn.query<MessageRow[]>({
      sql: `SELECT ${MESSAGE_COLUMNS} FROM messages ORDER BY id DESC LIMIT ?`,
      values: [limit],
      timeout: 3000,
    });
    return rows.map(toMessage);
  }

  async function reportHost(entry: Server): Promise<string> {
    return withConnection(entry, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>({
        sql: 'SELECT @@report_host AS host',
        timeout: 1000,
      });
      return String(rows[0]?.host ?? entry.server.name);
    });
  }

  return {
    async insertMessage(text) {
      const deadline = Date.now() + (options.writeRetryMs ?? 4000);
      for (let attempt = 0; ; attempt++) {
        const entry = entryOf(current().primary);
        const retry = async (why: string): Promise<void> => {
          if (Date.now() >= deadline)
            throw new DbUnavailable(`the primary (${entry.server.name}) takes no writes: ${why}`);
          await sleep(Math.min(100, 25 * 2 ** attempt));
        };
        let conn: PoolConnection;
        try {
          conn = await entry.pool.getConnection();
        } catch (error) {
          await retry(reason(error));
          continue;
        }
        try {
          // A pooled connection may have died with its server: find out before writing.
          await conn.ping();
        } catch (error) {
          conn.destroy();
          await retry(reason(error));
          continue;
        }
        try {
          const [result] = await conn.execute<ResultSetHeader>(
            'INSERT INTO messages (text) VALUES (?)',
            [text],
          );
          const [rows] = await conn.query<MessageRow[]>(
            `SELECT ${MESSAGE_COLUMNS}, @@last_gtid AS gtid FROM messages WHERE id = ?`,
            [result.insertId],
          );
          conn.release();
          const row = rows[0];
          if (row === undefined) throw new DbUnavailable('the new message cannot be read back');
          return { message: toMessage(row), gtid: String(row.gtid), server: entry.server.name };
        } catch (error) {
          if (errnoOf(error) === ER_OPTION_PREVENTS_STATEMENT) {
            conn.release();
            await retry('it is read-only');
            continue;
          }
          conn.destroy();
          if (error instanceof DbUnavailable) throw error;
          throw new DbUnavailable(
            `the write on ${entry.server.name} failed midway, it may or may not have happened: ${reason(error)}`,
          );
        }
      }
    },

    async listMessages(limit, after) {
      for (const replica of readableReplicas()) {
        try {
          const messages = await withConnection(replica, async (conn) => {
            if (after !== undefined) {
              const [rows] = await conn.query<RowDataPacket[]>(
                'SELECT MASTER_GTID_WAIT(?, ?) AS waited',
                [after, options.readWaitMs / 1000],
              );
              if (Number(rows[0]?.waited) !== 0) return undefined;
            }
            return selectMessages(conn, limit);
          });
          // Not caught up in time: only the primary surely has the reader's write.
          if (messages === undefined) break;
          return { messages, server: replica.server.name };
        } catch (error) {
          replica.downUntil = Date.now() + REPLICA_RETRY_MS;
          options.logger.warn(
            { replica: replica.server.name, error: reason(error) },
            'replica failed',
          );
        }
      }
      const primary = entryOf(current().primary);
      try {
        return {
          messages: await withConnection(primary, (conn) => selectMessages(conn, limit)),
          server: primary.server.name,
        };
      } catch (error) {
        throw new DbUnavailable(`no database server answers reads: ${reason(error)}`);
      }
    },

    async whoami() {
      const answer = async (candidates: Server[]): Promise<string | null> => {
        for (const entry of candidates) {
          try {
            return await reportHost(entry);
          } catch {
            entry.downUntil = Date.now() + REPLICA_RETRY_MS;
          }
        }
        return null;
      };
      if (topology === undefined) return { read: null, write: null };
      const primary = entryOf(topology.primary);
      const write = await answer([primary]);
      const read = await answer([...readableReplicas(), primary]);
      return { read, write };
    },

    async writeProblem() {
      let entry: Server;
      try {
        entry = entryOf(current().primary);
      } catch (error) {
        return reason(error);
      }
      try {
        const readOnly = await withConnection(entry, async (conn) => {
          const [rows] = await conn.query<RowDataPacket[]>({
            sql: 'SELECT @@global.read_only AS ro',
            timeout: 1000,
          });
          return Number(rows[0]?.ro) !== 0;
        });
        return readOnly ? `the primary (${entry.server.name}) is read-only` : undefined;
      } catch (error) {
        return `the primary (${entry.server.name}) does not answer: ${reason(error)}`;
      }
    },

    async close() {
      unwatch();
      await Promise.all([...servers.values()].map((s) => s.pool.end().catch(() => undefined)));
    },
  };
}
