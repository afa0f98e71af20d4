/**
 * What the app needs to reach the databases: which server is the primary and which are replicas
 * (db.json), and its password (a 0600 file owned by the app's user). foobar pushes both to every
 * web server; the app watches db.json and follows a new primary without a restart.
 */
import path from 'node:path';
import { files as fileCommands } from '../../commands/files.ts';
import { DB_USERS, dbSecretName } from '../../model/database.ts';
import { APP_USER, hostPaths } from '../../model/layout.ts';
import { addressOf, hostsWithRole, type Host } from '../../model/model.ts';
import { coreName, trustedCa } from '../../model/transit.ts';
import type { Context } from '../context.ts';
import { writeFiles } from '../daemon.ts';
import { primaryHost, replicasOf, type DbState } from './state.ts';

export interface AppDbServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** The name its certificate carries (the app verifies it). */
  readonly tlsName: string;
}

/** The shape of db.json; app/src/db/topology.ts reads it. */
export interface AppDbTopology {
  readonly epoch: number;
  readonly schema: string;
  readonly user: string;
  readonly primary: AppDbServer;
  readonly replicas: readonly AppDbServer[];
  /** The lab CA's certificate on the web server: the app verifies every database server with it. */
  readonly ca?: string;
}

export function appDbFiles(ctx: Context, web: string): { topology: string; password: string } {
  const etc = hostPaths(ctx.model, web).etc;
  return { topology: path.join(etc, 'db.json'), password: path.join(etc, 'db-password') };
}

export function appTopology(ctx: Context, state: DbState): AppDbTopology {
  const server = (host: Host): AppDbServer => ({
    name: host.name,
    host: addressOf(host, 'core'),
    port: ctx.model.ports.mysql,
    tlsName: coreName(ctx.model, host),
  });
  const primary = primaryHost(ctx, state);
  return {
    epoch: state.epoch,
    schema: ctx.model.database.schema,
    user: DB_USERS.app,
    primary: server(primary),
    replicas: replicasOf(ctx, state).map(server),
  };
}

/** Writes db.json and the password file on a web server; true when either changed. */
export async function pushAppDbSettings(
  ctx: Context,
  web: string,
  state: DbState,
): Promise<boolean> {
  const files = appDbFiles(ctx, web);
  const changed = await writeFiles(ctx, web, [
    {
      path: files.topology,
      content: `${JSON.stringify({ ...appTopology(ctx, state), ca: trustedCa(hostPaths(ctx.model, web)) }, null, 2)}\n`,
    },
  ]);
  const password = `${await ctx.secrets.get(dbSecretName('app'))}\n`;
  if ((await ctx.driver.readFile(web, files.password)) === password) return changed;
  await ctx.driver.writeFile(web, files.password, password, 0o600);
  await ctx.driver.exec(web, fileCommands.chown(`${APP_USER}:${APP_USER}`, files.password));
  return true;
}

/** Every web server's app learns the current primary and replicas. */
export async function pushTopologyToApps(ctx: Context, state: DbState): Promise<void> {
  await Promise.all(
    hostsWithRole(ctx.model, 'web').map((web) => pushAppDbSettings(ctx, web.name, state)),
  );
}
