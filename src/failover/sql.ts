/**
 * SQL from the failover manager's own host, over the network with the failover account: one
 * TCP connection per script instead of a mariadb client process per script. On a busy machine a
 * process costs more than the statements it runs, and a promotion runs several of them on the
 * way to writes. The scripts are foobar's own (see probes/mariadb.ts), written for the mariadb
 * client: `plainStatements` drops its DELIMITER lines, which the server itself does not need.
 */
import { readFile } from 'node:fs/promises';
import mysql, { type SslOptions } from 'mysql2';
import { DB_USERS, dbSecretName, type DbUser } from '../model/database.ts';
import { hostPaths } from '../model/layout.ts';
import { addressOf, findHost, type Host, type Model } from '../model/model.ts';
import { coreName, trustedCa } from '../model/transit.ts';
import { verifiedTls, verifyingSsl } from '../../app/src/db/tls.ts';
import type { Row } from '../probes/mariadb.ts';
import type { SecretStore } from '../lib/secrets.ts';
import type { SqlTransport } from '../steps/context.ts';

/** How long a connection may take: as the mariadb client's --connect-timeout. */
const CONNECT_TIMEOUT_MS = 2000;

/**
 * A script for the mariadb client as the server takes it in one multi-statement query: each
 * `DELIMITER x` line dropped, and a statement ended by `x` ended by `;` instead.
 */
export function plainStatements(script: string): string {
  let delimiter = ';';
  const lines: string[] = [];
  for (const line of script.split('\n')) {
    const change = /^\s*DELIMITER\s+(\S+)\s*$/i.exec(line);
    if (change?.[1] !== undefined) {
      delimiter = change[1];
      continue;
    }
    const trimmed = line.trimEnd();
    lines.push(
      delimiter !== ';' && trimmed.endsWith(delimiter)
        ? `${trimmed.slice(0, -delimiter.length)};`
        : line,
    );
  }
  return lines.join('\n');
}

/** mysql2's answer to a multi-statement query: the result sets only, as the client's XML has them. */
export function resultSets(results: unknown): Row[][] {
  const isHeader = (r: unknown): boolean =>
    typeof r === 'object' && r !== null && !Array.isArray(r) && 'affectedRows' in r;
  // One statement: its rows or its header, not wrapped in a list.
  if (isHeader(results)) return [];
  if (!Array.isArray(results)) return [];
  const many = results.some((r) => Array.isArray(r) || isHeader(r));
  const sets = many ? results : [results];
  return sets.filter((r): r is Row[] => Array.isArray(r));
}

/**
 * SQL over the network from `from` as one of foobar's accounts (the failover managers', by
 * default), over TLS: each server's certificate is verified against the lab's CA and its name.
 */
export function networkSql(
  model: Model,
  secrets: SecretStore,
  from: Host,
  user: Exclude<DbUser, 'admin'> = 'failover',
): SqlTransport {
  const caFile = trustedCa(hostPaths(model, from.name));
  // One per CA: mysql2 keeps the parsed CA and the sessions to resume by it.
  let ssl: SslOptions | undefined;
  return {
    async run(host, sql, timeoutMs) {
      const server = findHost(model, host);
      if (server === undefined) throw new Error(`${host} is not a host of the model`);
      const password = await secrets.get(dbSecretName(user));
      // Read at each connection: `up` may have renewed it.
      const ca = await readFile(caFile, 'utf8').catch((error: unknown) => {
        throw new Error(`${from.name}: cannot read the CA's certificate ${caFile}: run foobar up`, {
          cause: error,
        });
      });
      if (ssl?.ca !== ca) ssl = verifyingSsl(ca);
      const connection = mysql.createConnection({
        ...verifiedTls(
          {
            name: coreName(model, server),
            address: addressOf(server, 'core'),
            port: model.ports.mysql,
          },
          ssl,
        ),
        user: DB_USERS[user],
        password,
        multipleStatements: true,
        connectTimeout: CONNECT_TIMEOUT_MS,
        // Every value as the text the server sent (or null), as the client's XML has it.
        typeCast: (field) => field.string(),
      });
      try {
        const results = await new Promise<unknown>((resolve, reject) => {
          connection.query(
            { sql: plainStatements(sql), timeout: timeoutMs ?? 60_000 },
            (error, answer) => {
              if (error === null) resolve(answer);
              else reject(error);
            },
          );
        });
        return resultSets(results);
      } catch (error) {
        throw new Error(`${host}: ${(error as Error).message}`, { cause: error });
      } finally {
        connection.destroy();
      }
    },
  };
}
