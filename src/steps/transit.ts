/**
 * Certificates behind the edge: each service another host connects to (MariaDB, Nginx, the
 * exporters the monitor scrapes) gets a certificate from the lab's CA for its host's names and
 * addresses, issued on this machine
 * (where the CA's key is) and renewed by `up` when a third of its lifetime is left, as the ACME
 * certificate is. Its key is 0600 and owned by the daemon's user; every host that has a client
 * behind the edge gets the CA's certificate to verify its servers with.
 */
import path from 'node:path';
import { files as fileCommands } from '../commands/files.ts';
import { openssl } from '../commands/openssl.ts';
import { hostPaths, labPaths } from '../model/layout.ts';
import { hasRole, type Host } from '../model/model.ts';
import { jobsOn } from '../model/monitoring.ts';
import { backupHost } from '../model/backup.ts';
import {
  certificateUsage,
  SERVICE_CERTIFICATE_DAYS,
  serviceNames,
  TLS_SERVICES,
  transitFiles,
  trustedCa,
  type TlsService,
} from '../model/transit.ts';
import { RENEW_WHEN_LEFT } from './acme.ts';
import { pingServer, runSql } from '../probes/mariadb.ts';
import type { ReadFiles } from '../platform/platform.ts';
import type { Context } from './context.ts';
import { runningPid, startDaemon, stopDaemon, writeFiles } from './daemon.ts';
import { nginxExporterDaemon } from './monitoring.ts';
import type { Phase } from './plan.ts';
import { haproxyDaemon, nginxDaemon } from './services.ts';
import { liveSlot } from './slots.ts';
import { CA_KEY_SECRET, ensureCertificate, privateKey, type Wanted } from './tls.ts';

const DAY_MS = 24 * 3600 * 1000;

export function serviceKeySecret(host: string, service: TlsService): string {
  return `tls-${host}-${service}.key`;
}

async function caPem(ctx: Context): Promise<string> {
  return (await ctx.driver.readFile(null, labPaths(ctx.model).caCertificate)) ?? '';
}

/** The lab CA's certificate on a host, for its clients behind the edge; true when it changed. */
export async function ensureTrustedCa(
  ctx: Context,
  host: Host,
  read?: ReadFiles,
): Promise<boolean> {
  return writeFiles(
    ctx,
    host.name,
    [{ path: trustedCa(hostPaths(ctx.model, host.name)), content: await caPem(ctx) }],
    read,
  );
}

/**
 * A service's certificate and key on its host (and the CA's certificate beside them), issued or
 * renewed when needed. True when a file changed: a running daemon must reload them.
 */
export async function ensureServiceCertificate(
  ctx: Context,
  host: Host,
  service: TlsService,
  /** What the host holds already, read in one round trip (transitPhase). */
  read?: ReadFiles,
): Promise<boolean> {
  const names = serviceNames(ctx.model, host);
  const keySecret = serviceKeySecret(host.name, service);
  const key = await privateKey(ctx, keySecret);
  const ca = await caPem(ctx);
  const wanted: Wanted = {
    privateKey: key,
    subject: `/CN=${names.dns[0] ?? host.name}`,
    names: [...names.dns.map((n) => `DNS:${n}`), ...names.ip.map((a) => `IP:${a}`)],
    issuer: ca,
  };
  const days = SERVICE_CERTIFICATE_DAYS;
  const labTls = labPaths(ctx.model);
  const record = path.join(labTls.state, 'tls', 'services', `${host.name}-${service}.crt`);
  const issued = await ensureCertificate(
    ctx,
    record,
    wanted,
    days,
    () =>
      openssl.signed(
        {
          key: ctx.secrets.pathOf(keySecret),
          subject: wanted.subject,
          days,
          extensions: [
            `subjectAltName=${wanted.names.join(',')}`,
            'basicConstraints=critical,CA:FALSE',
            'keyUsage=critical,digitalSignature',
            `extendedKeyUsage=${certificateUsage(service)}`,
          ],
        },
        { cert: labTls.caCertificate, key: ctx.secrets.pathOf(CA_KEY_SECRET) },
      ),
    days * DAY_MS * RENEW_WHEN_LEFT,
  );
  const files = transitFiles(hostPaths(ctx.model, host.name), service);
  const changed = await writeFiles(
    ctx,
    host.name,
    [
      { path: files.ca, content: ca },
      { path: files.cert, content: issued.pem },
      { path: files.key, content: `${key}\n`, mode: 0o600 },
    ],
    read,
  );
  const owner = TLS_SERVICES[service];
  if (changed) await ctx.driver.exec(host.name, fileCommands.chown(`${owner}:${owner}`, files.key));
  return changed;
}

/**
 * A running Nginx told to load a renewed certificate: a graceful reload (SIGHUP), as a deploy's
 * switch does. New workers present the new certificate; the old ones finish their requests. Not
 * running: nothing to do, its start reads the files. Returns what was done.
 */
async function reloadNginx(ctx: Context, host: Host): Promise<string | undefined> {
  const daemon = nginxDaemon(ctx, host, await liveSlot(ctx, host.name));
  const pid = await runningPid(ctx, daemon);
  if (pid === undefined) return undefined;
  if (ctx.planning !== undefined) {
    ctx.planning.action(host.name, 'nginx: reload');
  } else {
    await ctx.platform.supervisor.reload(ctx, daemon, pid);
  }
  return 'nginx reloaded it';
}

/**
 * The metrics endpoints of a host told of a renewed exporters' certificate, where they need
 * telling: the node and mysqld exporters (exporter-toolkit) and our own daemons read it at each
 * new connection; the Nginx exporter reads it at start only (restarted: a scrape may miss);
 * HAProxy's stats frontend takes it at a graceful reload. Returns what was done.
 */
async function exportersTakeIt(ctx: Context, host: Host): Promise<string[]> {
  const done: string[] = [];
  if (hasRole(host, 'web')) {
    const exporter = nginxExporterDaemon(ctx, host);
    if ((await runningPid(ctx, exporter)) !== undefined) {
      if (ctx.planning !== undefined) {
        ctx.planning.action(host.name, 'nginx-exporter: restart');
      } else {
        await stopDaemon(ctx, exporter);
        await startDaemon(ctx, exporter);
      }
      done.push('nginx exporter restarted');
    }
  }
  if (hasRole(host, 'lb')) {
    const daemon = haproxyDaemon(ctx, host);
    const pid = await runningPid(ctx, daemon);
    if (pid !== undefined) {
      if (ctx.planning !== undefined) {
        ctx.planning.action(host.name, 'haproxy: reload');
      } else {
        await ctx.platform.supervisor.reload(ctx, daemon, pid);
      }
      done.push('haproxy reloaded');
    }
  }
  return done;
}

/**
 * The services of a host that have a certificate of their own. A database server sends its full
 * backup to the backup host with a client certificate of its own (`backup-sender`).
 */
function servicesOn(ctx: Context, host: Host): TlsService[] {
  const backups = hasRole(host, 'db') && backupHost(ctx.model) !== undefined;
  return [
    ...(hasRole(host, 'db') ? (['mariadb'] as const) : []),
    ...(backups ? (['backup-sender'] as const) : []),
    ...(hasRole(host, 'web') ? (['nginx'] as const) : []),
    ...(jobsOn(host).length > 0 ? (['exporters'] as const) : []),
  ];
}

/**
 * `up`'s phase for certificates behind the edge: the CA's certificate on every host, each
 * service's own certificate on its host, and a running daemon told to reload a renewed one
 * without dropping a connection: MariaDB by FLUSH SSL (open connections keep theirs, new ones get
 * the new certificate), Nginx by a graceful reload, the exporters as `exportersTakeIt` says.
 */
export function transitPhase(ctx: Context): Phase {
  return {
    title: 'Certificates behind the edge',
    tasks: ctx.model.hosts.map((host) => ({
      title: host.name,
      run: async () => {
        const done: string[] = [];
        // Every file of this phase on the host read in one round trip, not one per service.
        const paths = hostPaths(ctx.model, host.name);
        const wanted = [
          trustedCa(paths),
          ...servicesOn(ctx, host).flatMap((service) => {
            const files = transitFiles(paths, service);
            return [files.cert, files.key];
          }),
        ];
        const contents = await ctx.driver.readFiles(host.name, wanted);
        const read: ReadFiles = new Map(wanted.map((file, i) => [file, contents[i]]));
        if (await ensureTrustedCa(ctx, host, read)) done.push('CA certificate written');
        if (hasRole(host, 'db') && (await ensureServiceCertificate(ctx, host, 'mariadb', read))) {
          done.push('mariadb certificate issued');
          if ((await pingServer(ctx, host.name)) === undefined) {
            await runSql(ctx, host.name, 'FLUSH SSL;');
            done.push('mariadb reloaded it');
          }
        }
        if (hasRole(host, 'web') && (await ensureServiceCertificate(ctx, host, 'nginx', read))) {
          done.push('nginx certificate issued');
          const reloaded = await reloadNginx(ctx, host);
          if (reloaded !== undefined) done.push(reloaded);
        }
        if (
          servicesOn(ctx, host).includes('backup-sender') &&
          (await ensureServiceCertificate(ctx, host, 'backup-sender', read))
        ) {
          // Read by the backup tool at each full backup: nothing to reload.
          done.push('backup sender certificate issued');
        }
        if (
          servicesOn(ctx, host).includes('exporters') &&
          (await ensureServiceCertificate(ctx, host, 'exporters', read))
        ) {
          done.push('exporters certificate issued');
          done.push(...(await exportersTakeIt(ctx, host)));
        }
        return done.length === 0 ? 'up to date' : done.join(', ');
      },
    })),
  };
}
