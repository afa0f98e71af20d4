/**
 * Encryption in transit behind the edge: every service that another host connects to presents a
 * certificate from the lab's CA for its host's core name and address, and every client verifies
 * it by that name (DESIGN: nothing behind the load balancers travels in clear text).
 */
import path from 'node:path';
import type { HostPaths } from './layout.ts';
import { addressOf, type Host, type Model, type NetworkName } from './model.ts';

/** A service certificate lives this long; `up` renews it when a third is left (as ACME's). */
export const SERVICE_CERTIFICATE_DAYS = 90;

/**
 * The services behind the edge that present a certificate of their own, and the user that reads
 * its key: MariaDB's own; Nginx's master process reads it as root before its workers drop to
 * www-data; the exporters' (one certificate per host, for every metrics endpoint the monitor
 * scrapes there) by Debian's exporters, which run as prometheus, and by HAProxy, the failover
 * manager and the backup agent, which read it as root (the agent also serves the full backup's
 * stream with it).
 */
export const TLS_SERVICES = {
  mariadb: 'mysql',
  nginx: 'root',
  exporters: 'prometheus',
  'backup-sender': 'root',
} as const;
export type TlsService = keyof typeof TLS_SERVICES;

/**
 * What a service's certificate is for: a server's, except the database servers' client
 * certificate for the full backup's stream (`backup-sender`, read by the backup tool's `send`,
 * which runs as root), which the backup host's agent requires and checks for the replica it asked.
 */
export function certificateUsage(service: TlsService): 'serverAuth' | 'clientAuth' {
  return service === 'backup-sender' ? 'clientAuth' : 'serverAuth';
}

/** A host's name on the core network: inside the domain, which the lab's CA is limited to. */
export function coreName(model: Model, host: Host): string {
  return networkName(model, host, 'core');
}

/** A host's name on one of its networks (`coreName` on the core). */
export function networkName(model: Model, host: Host, network: NetworkName): string {
  return `${host.name}.${network}.${model.domain}`;
}

/**
 * What a service's certificate names: the host's name and address on each network it is on
 * (web and database servers: the core only), whichever a client connects to.
 */
export function serviceNames(model: Model, host: Host): { dns: string[]; ip: string[] } {
  const networks = (['core', 'edge'] as const).filter((n) => host.addresses[n] !== undefined);
  return {
    dns: networks.map((network) => networkName(model, host, network)),
    ip: networks.map((network) => addressOf(host, network)),
  };
}

export interface TransitFiles {
  /** The lab CA's certificate: what every client behind the edge trusts. */
  readonly ca: string;
  readonly cert: string;
  /** 0600, owned by the daemon's user. */
  readonly key: string;
}

/** The lab CA's certificate on a host: every client behind the edge verifies its servers with it. */
export function trustedCa(paths: HostPaths): string {
  return path.join(paths.etc, 'tls', 'ca.crt');
}

export function transitFiles(paths: HostPaths, service: TlsService): TransitFiles {
  const dir = path.join(paths.etc, 'tls');
  return {
    ca: trustedCa(paths),
    cert: path.join(dir, `${service}.crt`),
    key: path.join(dir, `${service}.key`),
  };
}
