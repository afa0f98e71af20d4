/**
 * The app's database access: writes on the primary, reads on a replica (round-robin; the primary
 * only when no replica answers), and read-your-writes: a reader that brings the GTID of its last
 * write waits briefly for the replica to have it, or reads from the primary.
 *
 * A write that was certainly not executed (no connection to the primary, or the primary refused it
 * as read-only during a switchover) is retried against the current primary for a few seconds; a
 * write whose connection died midway has an unknown outcome and is never retried.
 *
 * Every wait on a database server is bounded (connect, each query, a probe), and a server that
 * failed is skipped until a probe finds it answering again (see health.ts): a silent server costs
 * a bounded delay to the requests that met it, and nothing to the others.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import type {
  Connection,
  ConnectionOptions,
  Pool,
  PoolConnection,
  ResultSetHeader,
  RowDataPacket,
  SslOptions,
} from 'mysql2/promise';
import {
  dbHealth,
  isDown,
  markDown,
  markOk,
  newServerHealth,
  noTopologyHealth,
  PROBE_AFTER_MS,
  type DbHealth,
  type ServerHealth,
} from './health.ts';
import { credentialFingerprint } from './credential.ts';
import { verifiedTls, verifyingSsl } from './tls.ts';
import { readTopology, watchSettingsFile, type DbServer, type Topology } from './topology.ts';

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
  /**
   * Whether this web server reaches a database server, and whether the primary takes writes:
   * from what it saw in the last second, probing the servers again when that is older.
   */
  health(): Promise<DbHealth>;
  /**
   * Which password new connections use, as a fingerprint that tells nothing of it: foobar waits
   * for every app to show the new one before the database stops accepting the old.
   */
  credential(): string | undefined;
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

/**
 * Bounds on every wait, on a network where a query answers in milliseconds (p99 of a read through
 * the load balancers under full load: ~0.1 s). A request waits for a connection ACQUIRE_TIMEOUT_MS
 * at most; a read answers within QUERY_TIMEOUT_MS; an insert within INSERT_TIMEOUT_MS, which
 * covers the semi-sync wait for a replica's acknowledgement (1 s at most by default). Probes have
 * their own bound below.
 *
 * Making a connection (TCP, TLS, login) may take longer than any of them, CONNECT_TIMEOUT_MS: the
 * request or probe that gives up on a connection still being made leaves it to finish, and the
 * next one uses it. Were each attempt cut at the asker's bound, a server whose handshake takes
 * longer (a slower link, or a machine so busy that TLS takes a second) would never be reached,
 * and a web server just started never ready. A silent server costs the askers no more.
 */
export const CONNECT_TIMEOUT_MS = 2500;
export const QUERY_TIMEOUT_MS = 750;
export const INSERT_TIMEOUT_MS = 3000;
/** A pooled connection (from the pool's queue, or new) within this long. */
const ACQUIRE_TIMEOUT_MS = 1000;
/**
 * Prepared statements a connection keeps. mysql2's default is 16,000, and its cache allocates four
 * arrays of that length with every connection, used or not: 512 kB of heap each, 16 MB for a
 * full pool to each of two servers. The app prepares one statement (the insert); the rest are
 * plain queries. An app after the same load: 71–75 → 55 MB of private memory.
 */
const MAX_PREPARED_STATEMENTS = 4;
/** How long a pool of an old password lives on: longer than any request holds a connection. */
const RETIRED_POOL_MS = 60_000;
/**
 * A probe of one server, its connection included when one is being made. Probes have a
 * connection of their own, so one never waits behind requests stuck on a silent server; as short
 * as the failover managers' own probe of the primary (0.4 s), plus a little, since a web server's
 * word on the primary moves it too.
 */
const PROBE_TIMEOUT_MS = 500;
/** How long a readiness check waits for the probe it started. */
const HEALTH_WAITS_FOR_PROBE_MS = 100;
/** MariaDB's "read-only" refusal (ER_OPTION_PREVENTS_STATEMENT): the statement did not run. */
const ER_OPTION_PREVENTS_STATEMENT = 1290;

interface Server {
  readonly server: DbServer;
  /** Replaced, with the pool, when the password file changes (`foobar secrets rotate`). */
  options: ConnectionOptions;
  pool: Pool;
  readonly health: ServerHealth;
  /**
   * The probes' own connection, made by the first probe and dropped when one fails (kept while it
   * is still being made: see CONNECT_TIMEOUT_MS).
   */
  probeConnection: Promise<Connection> | undefined;
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

/**
 * `work`, or an error after `ms` (a pool whose connections are all stuck queues with no bound of
 * its own; mysql2's ping has none either). What arrives too late is handed to `late`.
 */
async function within<T>(
  work: Promise<T>,
  ms: number,
  what: string,
  late?: (value: T) => void,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      if (late !== undefined) void work.then(late).catch(() => undefined);
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createStore(options: StoreOptions): Store {
  const servers = new Map<string, Server>();
  let topology: Topology | undefined;
  let topologyError = 'no topology yet';
  let password = '';
  /** What the servers are verified with (the CA's certificate); none: plain connections. */
  let ssl: SslOptions | undefined;
  /** Pools of a password that changed: ended once requests that hold their connections are over. */
  const retired = new Set<Pool>();
  let next = 0;
  let probing: Promise<void> | undefined;
  let probedAt = 0;
  const writeRetryMs = options.writeRetryMs ?? 4000;

  const keyOf = (s: DbServer): string => `${s.name}@${s.host}:${s.port}`;

  function load(): void {
    let fresh: Topology;
    try {
      fresh = readTopology(options.topologyFile);
      password = readFileSync(options.passwordFile, 'utf8').trim();
      const ca = fresh.ca === undefined ? undefined : readFileSync(fresh.ca, 'utf8');
      if (ca === undefined) ssl = undefined;
      else if (ssl?.ca !== ca) ssl = verifyingSsl(ca);
    } catch (error) {
      topologyError = `cannot read the database settings: ${reason(error)}`;
      options.logger.warn({ error: reason(error) }, 'database settings unreadable');
      return;
    }
    if (topology !== undefined && fresh.epoch < topology.epoch) return;
    for (const entry of servers.values()) useCurrentPassword(entry);
    const changed = topology === undefined || JSON.stringify(fresh) !== JSON.stringify(topology);
    topology = fresh;
    if (!changed) return;
    const wanted = new Set([fresh.primary, ...fresh.replicas].map(keyOf));
    for (const [key, entry] of servers) {
      if (wanted.has(key)) continue;
      servers.delete(key);
      void entry.pool.end().catch(() => undefined);
      dropProbeConnection(entry);
    }
    for (const server of [fresh.primary, ...fresh.replicas]) {
      if (servers.has(keyOf(server))) continue;
      const tlsName = server.tlsName;
      const connection: ConnectionOptions = {
        // TLS, the server's certificate checked against the lab's CA and its name.
        ...(ssl === undefined || tlsName === undefined
          ? { host: server.host, port: server.port }
          : verifiedTls({ name: tlsName, address: server.host, port: server.port }, ssl, {
              keepAlive: true,
            })),
        user: fresh.user,
        password,
        database: fresh.schema,
        charset: 'UTF8MB4_UNICODE_CI',
        connectTimeout: CONNECT_TIMEOUT_MS,
        enableKeepAlive: true,
        maxPreparedStatements: MAX_PREPARED_STATEMENTS,
      };
      servers.set(keyOf(server), {
        server,
        options: connection,
        health: newServerHealth(),
        pool: newPool(connection),
        probeConnection: undefined,
      });
    }
    // A new primary is probed at once: whether it takes writes is not known yet.
    probedAt = 0;
    options.logger.info(
      {
        epoch: fresh.epoch,
        primary: fresh.primary.name,
        replicas: fresh.replicas.map((r) => r.name),
      },
      'database topology',
    );
  }

  function newPool(connection: ConnectionOptions): Pool {
    return mysql.createPool({
      ...connection,
      connectionLimit: 16,
      maxIdle: 4,
      idleTimeout: 30_000,
    });
  }

  /**
   * After the password file changed, new connections log in with the new password; connections
   * already open stay (a server checks a password at login only). The old pool is ended only after
   * any request that holds one of its connections is over: ending it at once would refuse the
   * next statement of a request between two.
   */
  function useCurrentPassword(entry: Server): void {
    if (entry.options.password === password) return;
    const old = entry.pool;
    entry.options = { ...entry.options, password };
    entry.pool = newPool(entry.options);
    dropProbeConnection(entry);
    retired.add(old);
    setTimeout(() => {
      retired.delete(old);
      void old.end().catch(() => undefined);
    }, RETIRED_POOL_MS).unref();
    options.logger.info(
      { server: entry.server.name },
      'database password changed: new logins use it',
    );
  }

  load();
  const unwatch = watchSettingsFile(options.topologyFile, load);
  const unwatchPassword = watchSettingsFile(options.passwordFile, load);

  function entryOf(server: DbServer): Server {
    const entry = servers.get(keyOf(server));
    if (entry === undefined) throw new DbUnavailable(`no pool for ${server.name}`);
    return entry;
  }

  function current(): Topology {
    if (topology === undefined) throw new DbUnavailable(topologyError);
    return topology;
  }

  function answered(entry: Server, readOnly?: boolean): void {
    if (isDown(entry.health))
      options.logger.info({ db: entry.server.name }, 'database server answers again');
    markOk(entry.health, Date.now(), readOnly);
  }

  /** It failed; `since`: when the attempt that failed began (it has not answered since). */
  function failed(entry: Server, error: unknown, since = Date.now()): void {
    if (!isDown(entry.health))
      options.logger.warn(
        { db: entry.server.name, error: reason(error) },
        'database server failed',
      );
    markDown(entry.health, since, reason(error));
  }

  function acquire(entry: Server): Promise<PoolConnection> {
    return within(
      entry.pool.getConnection(),
      ACQUIRE_TIMEOUT_MS,
      `a connection to ${entry.server.name}`,
      (late) => {
        late.release();
      },
    );
  }

  async function withConnection<T>(
    entry: Server,
    work: (conn: PoolConnection) => Promise<T>,
  ): Promise<T> {
    const conn = await acquire(entry);
    try {
      const result = await work(conn);
      conn.release();
      return result;
    } catch (error) {
      conn.destroy();
      throw error;
    }
  }

  function dropProbeConnection(entry: Server, probe = entry.probeConnection): void {
    if (probe === undefined || entry.probeConnection !== probe) return;
    entry.probeConnection = undefined;
    void probe.then(
      (c) => {
        c.destroy();
      },
      () => undefined,
    );
  }

  function probeConnection(entry: Server): Promise<Connection> {
    if (entry.probeConnection !== undefined) return entry.probeConnection;
    const connection = mysql.createConnection(entry.options);
    entry.probeConnection = connection;
    connection.then(
      (c) => {
        // A connection that breaks between probes is replaced by the next probe.
        c.on('error', () => {
          dropProbeConnection(entry, connection);
        });
      },
      // Not made: the next probe tries again.
      () => {
        dropProbeConnection(entry, connection);
      },
    );
    return connection;
  }

  /** Does the server answer, and is it read-only? */
  async function probe(entry: Server): Promise<void> {
    const started = Date.now();
    // Whether the probe got as far as its query (else it waited for the connection).
    const progress = { asked: false };
    try {
      const readOnly = await within(
        (async () => {
          const connection = await probeConnection(entry);
          progress.asked = true;
          const [rows] = await connection.query<RowDataPacket[]>({
            sql: 'SELECT @@global.read_only AS ro',
            timeout: PROBE_TIMEOUT_MS,
          });
          return Number(rows[0]?.ro) !== 0;
        })(),
        PROBE_TIMEOUT_MS,
        `a probe of ${entry.server.name}`,
        // An answer after the probe gave up (its connection took longer to make) still counts.
        (late) => {
          answered(entry, late);
        },
      );
      answered(entry, readOnly);
    } catch (error) {
      // A connection still being made is left to finish; one that did not answer is dropped.
      if (progress.asked) dropProbeConnection(entry);
      failed(entry, error, started);
    }
  }

  /** Every server probed at once; one round at a time, however many ask. */
  function probeAll(): Promise<void> {
    probing ??= (async () => {
      probedAt = Date.now();
      await Promise.all([...servers.values()].map(probe));
    })().finally(() => {
      probing = undefined;
    });
    return probing;
  }

  /** Servers that have not failed since they last answered; a probe finds out about the others. */
  function usable(entries: readonly Server[]): Server[] {
    const up = entries.filter((e) => !isDown(e.health));
    if (up.length < entries.length && Date.now() - probedAt >= PROBE_AFTER_MS) void probeAll();
    return up;
  }

  /** Replicas that are up, starting with the next one in turn. */
  function readableReplicas(): Server[] {
    const replicas = current().replicas.map(entryOf);
    const start = next++ % Math.max(1, replicas.length);
    return usable([...replicas.slice(start), ...replicas.slice(0, start)]);
  }

  async function selectMessages(conn: PoolConnection, limit: number): Promise<Message[]> {
    const [rows] = await conn.query<MessageRow[]>({
      sql: `SELECT ${MESSAGE_COLUMNS} FROM messages ORDER BY id DESC LIMIT ?`,
      values: [limit],
      timeout: QUERY_TIMEOUT_MS,
    });
    return rows.map(toMessage);
  }

  /** Whether the server has applied `gtid`, after waiting for it at most readWaitMs. */
  async function hasGtid(conn: PoolConnection, gtid: string): Promise<boolean> {
    const [rows] = await conn.query<RowDataPacket[]>({
      sql: 'SELECT MASTER_GTID_WAIT(?, ?) AS waited',
      values: [gtid, options.readWaitMs / 1000],
      timeout: options.readWaitMs + QUERY_TIMEOUT_MS,
    });
    return Number(rows[0]?.waited) === 0;
  }

  async function reportHost(entry: Server): Promise<string> {
    return withConnection(entry, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>({
        sql: 'SELECT @@report_host AS host',
        timeout: QUERY_TIMEOUT_MS,
      });
      return String(rows[0]?.host ?? entry.server.name);
    });
  }

  return {
    async insertMessage(text) {
      const deadline = Date.now() + writeRetryMs;
      for (let attempt = 0; ; attempt++) {
        const entry = entryOf(current().primary);
        const { downSince, lastError } = entry.health;
        // Down for longer than a write would wait: say so at once instead of making every
        // writer wait out the retries (a probe brings the primary back when it answers).
        if (downSince !== undefined && Date.now() - downSince > writeRetryMs) {
          usable([entry]);
          const seconds = Math.round((Date.now() - downSince) / 1000);
          throw new DbUnavailable(
            `the primary (${entry.server.name}) has not answered for ${seconds} s: ${lastError ?? ''}`,
          );
        }
        const retry = async (why: string): Promise<void> => {
          if (Date.now() >= deadline)
            throw new DbUnavailable(`the primary (${entry.server.name}) takes no writes: ${why}`);
          await sleep(Math.min(100, 25 * 2 ** attempt));
        };
        let conn: PoolConnection;
        // When the server was last asked: a failure says it has not answered since then.
        let asked = Date.now();
        try {
          conn = await acquire(entry);
          // A pooled connection may have died with its server: find out before writing.
          asked = Date.now();
          await within(conn.ping(), QUERY_TIMEOUT_MS, `a ping of ${entry.server.name}`).catch(
            (error: unknown) => {
              conn.destroy();
              throw error;
            },
          );
        } catch (error) {
          failed(entry, error, asked);
          await retry(reason(error));
          continue;
        }
        try {
          asked = Date.now();
          const [result] = await conn.execute<ResultSetHeader>({
            sql: 'INSERT INTO messages (text) VALUES (?)',
            values: [text],
            timeout: INSERT_TIMEOUT_MS,
          });
          const [rows] = await conn.query<MessageRow[]>({
            sql: `SELECT ${MESSAGE_COLUMNS}, @@last_gtid AS gtid FROM messages WHERE id = ?`,
            values: [result.insertId],
            timeout: QUERY_TIMEOUT_MS,
          });
          conn.release();
          answered(entry, false);
          const row = rows[0];
          if (row === undefined) throw new DbUnavailable('the new message cannot be read back');
          return { message: toMessage(row), gtid: String(row.gtid), server: entry.server.name };
        } catch (error) {
          if (errnoOf(error) === ER_OPTION_PREVENTS_STATEMENT) {
            conn.release();
            answered(entry, true);
            await retry('it is read-only');
            continue;
          }
          if (error instanceof DbUnavailable) throw error;
          conn.destroy();
          failed(entry, error, asked);
          throw new DbUnavailable(
            `the write on ${entry.server.name} failed midway, it may or may not have happened: ${reason(error)}`,
          );
        }
      }
    },

    async listMessages(limit, after) {
      // Read from a replica that has not caught up with the reader's write: shown only when the
      // primary cannot be asked instead.
      let behind: Read | undefined;
      for (const replica of readableReplicas()) {
        try {
          const read = await withConnection(replica, async (conn) => ({
            caughtUp: after === undefined || (await hasGtid(conn, after)),
            messages: await selectMessages(conn, limit),
          }));
          answered(replica);
          if (read.caughtUp) return { messages: read.messages, server: replica.server.name };
          behind = { messages: read.messages, server: replica.server.name };
          break;
        } catch (error) {
          failed(replica, error);
        }
      }
      const primary = entryOf(current().primary);
      if (behind !== undefined && usable([primary]).length === 0) return behind;
      try {
        const messages = await withConnection(primary, (conn) => selectMessages(conn, limit));
        answered(primary);
        return { messages, server: primary.server.name };
      } catch (error) {
        failed(primary, error);
        if (behind !== undefined) return behind;
        throw new DbUnavailable(`no database server answers reads: ${reason(error)}`);
      }
    },

    async whoami() {
      if (topology === undefined) return { read: null, write: null };
      const answer = async (candidates: Server[]): Promise<string | null> => {
        for (const entry of candidates) {
          try {
            const host = await reportHost(entry);
            answered(entry);
            return host;
          } catch (error) {
            failed(entry, error);
          }
        }
        return null;
      };
      const primary = usable([entryOf(topology.primary)]);
      const [write, read] = await Promise.all([
        answer(primary),
        answer([...readableReplicas(), ...primary]),
      ]);
      return { read, write };
    },

    async health() {
      if (topology === undefined) return noTopologyHealth(topologyError);
      // A probe of servers that answer takes milliseconds: its result is waited for. One that
      // waits on a silent server is not: the answer says what the last probe found, and the
      // next readiness check what this one did (the failover managers ask several times a
      // second, and count a failure from when its probe began).
      // Before any server's first answer or failure, there is nothing to report: waited for.
      const known = [...servers.values()].every(
        (e) => e.health.lastOkAt !== undefined || isDown(e.health),
      );
      if (!known) await probeAll();
      else if (Date.now() - probedAt >= PROBE_AFTER_MS)
        await Promise.race([probeAll(), sleep(HEALTH_WAITS_FOR_PROBE_MS)]);
      const { primary, replicas } = current();
      return dbHealth(
        { name: primary.name, health: entryOf(primary).health },
        replicas.map((r) => entryOf(r).health),
        Date.now(),
      );
    },

    credential() {
      return password === '' ? undefined : credentialFingerprint(password);
    },

    async close() {
      unwatch();
      unwatchPassword();
      await Promise.all([...retired].map((pool) => pool.end().catch(() => undefined)));
      for (const entry of servers.values()) dropProbeConnection(entry);
      await Promise.all([...servers.values()].map((s) => s.pool.end().catch(() => undefined)));
    },
  };
}
