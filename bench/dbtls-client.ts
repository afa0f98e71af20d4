/**
 * Runs on a web server (bench/dbtls.ts starts it): the app's own MariaDB client (mysql2, with the
 * app's TLS settings from app/src/db/tls.ts: verified by name against the lab's CA) against one
 * database server, with TLS and in clear text, in interleaved rounds. Two loads each: the app's
 * guestbook read on connections kept open (as its pool does), and a new connection per query (as a
 * pool refills after a failover or a password rotation). Its settings, password included, come on
 * standard input; it prints the rounds as JSON.
 */
import { readFileSync } from 'node:fs';
import mysql, { type ConnectionOptions } from 'mysql2/promise';
import { verifiedTls, verifyingSsl } from '../app/src/db/tls.ts';
import { warmThenAlternate } from './compare.ts';

export interface DbTlsSettings {
  readonly server: { readonly name: string; readonly address: string; readonly port: number };
  /** The lab CA's certificate on this web server (db.json's `ca`). */
  readonly ca: string;
  readonly user: string;
  readonly password: string;
  readonly schema: string;
  readonly seconds: number;
  readonly rounds: number;
  /** Connections kept open for the first load. */
  readonly connections: number;
}

export interface DbTlsFigures {
  /** Queries a second over `connections` open connections. */
  readonly keptQps: number;
  /** Connections a second, each opened, asked one query and closed, one after the other. */
  readonly freshPerSecond: number;
}

export interface DbTlsRound {
  readonly tls: DbTlsFigures;
  readonly plain: DbTlsFigures;
}

/** What /api/messages asks the database. */
const READ = 'SELECT id, text, created_at FROM messages ORDER BY id DESC LIMIT 20';

function optionsFor(settings: DbTlsSettings, tls: boolean): ConnectionOptions {
  const { server } = settings;
  const account = { user: settings.user, password: settings.password, database: settings.schema };
  if (!tls) return { host: server.address, port: server.port, ...account };
  // One SslOptions for the whole run, as the app keeps one per CA: sessions resume.
  return {
    ...verifiedTls(server, ssl ?? (ssl = verifyingSsl(readFileSync(settings.ca, 'utf8')))),
    ...account,
  };
}
let ssl: ReturnType<typeof verifyingSsl> | undefined;

async function kept(settings: DbTlsSettings, tls: boolean): Promise<number> {
  const options = optionsFor(settings, tls);
  const connections = await Promise.all(
    Array.from({ length: settings.connections }, () => mysql.createConnection(options)),
  );
  try {
    const until = Date.now() + settings.seconds * 1000;
    const started = Date.now();
    const counts = await Promise.all(
      connections.map(async (connection) => {
        let n = 0;
        while (Date.now() < until) {
          await connection.query(READ);
          n++;
        }
        return n;
      }),
    );
    return counts.reduce((a, b) => a + b, 0) / ((Date.now() - started) / 1000);
  } finally {
    await Promise.all(connections.map((c) => c.end()));
  }
}

async function fresh(settings: DbTlsSettings, tls: boolean): Promise<number> {
  const options = optionsFor(settings, tls);
  const started = Date.now();
  const until = started + settings.seconds * 1000;
  let n = 0;
  while (Date.now() < until) {
    const connection = await mysql.createConnection(options);
    await connection.query(READ);
    await connection.end();
    n++;
  }
  return n / ((Date.now() - started) / 1000);
}

async function figures(settings: DbTlsSettings, tls: boolean): Promise<DbTlsFigures> {
  return { keptQps: await kept(settings, tls), freshPerSecond: await fresh(settings, tls) };
}

async function main(): Promise<void> {
  const settings = JSON.parse(readFileSync(0, 'utf8')) as DbTlsSettings;
  // A warm-up of both, not counted: the first connections compile the client's code paths and
  // fill the server's caches (the first round measured a third of the next ones without it).
  const rounds: DbTlsRound[] = (await warmThenAlternate(settings, 2, figures)).map(
    ([tls, plain]) => ({ tls, plain }),
  );
  process.stdout.write(`${JSON.stringify(rounds)}\n`);
}

if (import.meta.main) await main();
