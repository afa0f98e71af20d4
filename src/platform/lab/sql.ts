/**
 * SQL in the lab: the command line connects to each server's Unix socket itself, as foobar's
 * admin account, instead of running the mariadb client in the server's namespace. A socket is
 * a file on this machine (no namespace stands in the way), and a connection costs a fraction of
 * a client process: `up` asks the primary and the replica about ten questions on every run,
 * `db status` one per server. The login is the admin client file's, which the client read: a
 * password rotation changes both at once.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { hostPaths } from '../../model/layout.ts';
import type { Model } from '../../model/model.ts';
import { mariadbFiles } from '../../render/mariadb/index.ts';
import { CONNECT_TIMEOUT_MS, runScript } from '../../lib/sql-script.ts';
import type { SqlTransport } from '../../steps/context.ts';

/** The [client] group's settings of a MariaDB option file ("key = value" lines). */
export function clientOptions(text: string): Map<string, string> {
  const options = new Map<string, string>();
  let inClient = false;
  for (const line of text.split('\n')) {
    const group = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (group?.[1] !== undefined) {
      inClient = group[1] === 'client';
      continue;
    }
    const option = /^\s*([\w-]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (inClient && option?.[1] !== undefined && option[2] !== undefined)
      options.set(option[1], option[2]);
  }
  return options;
}

/**
 * Undefined when a server greets a connection on its Unix socket (its handshake, or an error
 * packet such as too many connections: either way mariadbd is there and answers, which is what
 * `mariadb-admin ping` reports), otherwise why not. Nothing is sent: the socket is closed once
 * the first bytes arrive.
 */
export function greets(
  socket: string,
  timeoutMs = CONNECT_TIMEOUT_MS,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const connection = net.connect(socket);
    const done = (problem: string | undefined): void => {
      clearTimeout(timer);
      connection.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => {
      done(`no greeting on ${socket} within ${timeoutMs} ms`);
    }, timeoutMs);
    connection.once('data', () => {
      done(undefined);
    });
    connection.once('error', (error: NodeJS.ErrnoException) => {
      done(`cannot connect to ${socket}: ${error.code ?? error.message}`);
    });
    connection.once('end', () => {
      done(`${socket} closed without a greeting`);
    });
  });
}

export function socketSql(model: Model): SqlTransport {
  return {
    ping: (host) => greets(mariadbFiles(hostPaths(model, host)).socket),
    async run(host, sql, timeoutMs) {
      const file = mariadbFiles(hostPaths(model, host)).adminClient;
      const text = await readFile(file, 'utf8').catch((error: unknown) => {
        throw new Error(`${host}: cannot read the admin's client settings ${file}: run foobar up`, {
          cause: error,
        });
      });
      const options = clientOptions(text);
      // Loaded on the first script only: most commands run none.
      const { default: mysql } = await import('mysql2');
      try {
        return await runScript(
          mysql.createConnection,
          {
            socketPath: options.get('socket') ?? '',
            user: options.get('user') ?? '',
            password: options.get('password') ?? '',
            connectTimeout: CONNECT_TIMEOUT_MS,
          },
          sql,
          timeoutMs,
        );
      } catch (error) {
        throw new Error(`${host}: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}
