/**
 * What TLS on the database hop costs (app → MariaDB): the app's own client on a web server against
 * a replica, with TLS as the app connects and in clear text, in interleaved rounds
 * (bench/dbtls-client.ts). The site never allows clear text there (`require_secure_transport`,
 * every account `REQUIRE SSL`), so for this comparison only the bench lets the replica take it and
 * makes an account of its own, read-only, from that web server's address; both are undone after.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { hostPaths } from '../src/model/layout.ts';
import { addressOf, hostsWithRole } from '../src/model/model.ts';
import { coreName, trustedCa } from '../src/model/transit.ts';
import { runSql, sqlString } from '../src/probes/mariadb.ts';
import { primaryHost, readDbState, replicasOf } from '../src/steps/db/state.ts';
import { waitFor } from '../src/lib/wait.ts';
import type { TestLab } from '../test/support/lab.ts';
import { pairedRatio } from './compare.ts';
import { runScript } from './remote.ts';
import type { DbTlsRound, DbTlsSettings } from './dbtls-client.ts';

const BENCH_USER = 'foobar_bench';
const CLIENT = path.join(import.meta.dirname, 'dbtls-client.ts');

export interface DbTlsRatio {
  readonly name: string;
  /** TLS ÷ clear text, each round's. */
  readonly ratios: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** The medians of each side, per second. */
  readonly tls: number;
  readonly plain: number;
}

export interface DbTlsCost {
  readonly from: string;
  readonly to: string;
  readonly connections: number;
  readonly rounds: readonly DbTlsRound[];
  readonly kept: DbTlsRatio;
  readonly fresh: DbTlsRatio;
}

function ratio(
  name: string,
  rounds: readonly DbTlsRound[],
  pick: (f: DbTlsRound['tls']) => number,
): DbTlsRatio {
  const { a, b, ...rest } = pairedRatio(
    name,
    rounds,
    (r) => pick(r.tls),
    (r) => pick(r.plain),
  );
  return { ...rest, tls: a, plain: b };
}

/** Both loads' ratios from the client's rounds. */
export function summarizeDbTls(
  rounds: readonly DbTlsRound[],
  connections: number,
): Pick<DbTlsCost, 'kept' | 'fresh'> {
  if (rounds.length === 0) throw new Error('the database TLS client measured no round');
  return {
    kept: ratio(`guestbook read on ${connections} open connections`, rounds, (f) => f.keptQps),
    fresh: ratio('a new connection per read', rounds, (f) => f.freshPerSecond),
  };
}

export function formatDbTls(cost: DbTlsCost): string {
  const row = (r: DbTlsRatio): string =>
    `${r.name.padEnd(42)} ${r.tls.toFixed(0).padStart(7)}/s ${r.plain.toFixed(0).padStart(7)}/s  ${r.median.toFixed(2)} (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
  return [
    `TLS on the database hop (the app's mysql2 client, ${cost.from} → ${cost.to}), ${cost.rounds.length} rounds:`,
    `${'load'.padEnd(42)} ${'TLS'.padStart(9)} ${'clear'.padStart(9)}  TLS ÷ clear (spread)`,
    row(cost.kept),
    row(cost.fresh),
  ].join('\n');
}

export async function dbTlsCost(
  lab: TestLab,
  { seconds = 4, rounds = 5, connections = 8 } = {},
): Promise<DbTlsCost> {
  const { ctx } = lab;
  const state = await readDbState(ctx);
  const primary = primaryHost(ctx, state);
  const server = replicasOf(ctx, state)[0] ?? primary;
  const [web] = hostsWithRole(ctx.model, 'web');
  if (web === undefined) throw new Error('no web server to measure the database hop from');
  const account = `${sqlString(BENCH_USER)}@${sqlString(addressOf(web, 'core'))}`;
  const password = randomBytes(18).toString('base64url');
  const schema = ctx.model.database.schema;
  await runSql(
    ctx,
    primary.name,
    `CREATE USER ${account} IDENTIFIED BY ${sqlString(password)}; GRANT SELECT ON \`${schema}\`.* TO ${account};`,
  );
  try {
    await waitFor(
      `the bench's account replicated to ${server.name}`,
      async () => {
        const [rows] = await runSql(
          ctx,
          server.name,
          `SELECT COUNT(*) AS n FROM mysql.user WHERE User = ${sqlString(BENCH_USER)}`,
        );
        return rows?.[0]?.n === '1' ? undefined : 'not yet';
      },
      { timeoutMs: 30_000 },
    );
    await runSql(ctx, server.name, 'SET GLOBAL require_secure_transport = OFF');
    const settings: DbTlsSettings = {
      server: {
        name: coreName(ctx.model, server),
        address: addressOf(server, 'core'),
        port: ctx.model.ports.mysql,
      },
      ca: trustedCa(hostPaths(ctx.model, web.name)),
      user: BENCH_USER,
      password,
      schema,
      seconds,
      rounds,
      connections,
    };
    const measured = await runScript<DbTlsRound[]>(ctx, web.name, CLIENT, settings);
    return {
      from: web.name,
      to: server.name,
      connections,
      rounds: measured,
      ...summarizeDbTls(measured, connections),
    };
  } finally {
    await runSql(ctx, server.name, 'SET GLOBAL require_secure_transport = ON');
    await runSql(ctx, primary.name, `DROP USER IF EXISTS ${account}`);
  }
}
