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
import type { SecretStore } from '../lib/secrets.ts';
import type { SqlTransport } from '../steps/context.ts';
import { CONNECT_TIMEOUT_MS, runScript } from '../lib/sql-script.ts';

export { plainStatements, resultSets } from '../lib/sql-script.ts';

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
      try {
        return await runScript(
          mysql.createConnection,
          {
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
