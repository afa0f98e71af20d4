/**
 * Encryption in transit behind the edge: every service that another host connects to presents a
 * certificate from the lab's CA for its host's core name and address, and every client verifies
 * it by that name (DESIGN: nothing behind the load balancers travels in clear text).
 */
import path from 'node:path';
import type { HostPaths } from './layout.ts';
import { addressOf, type Host, type Model } from './model.ts';

/** A service certificate lives this long; `up` renews it when a third is left (as ACME's). */
export const SERVICE_CERTIFICATE_DAYS = 90;

/**
 * The services behind the edge that present a certificate of their own, and the user that reads
 * its key: MariaDB's own; Nginx's master process reads it as root before its workers drop to
 * www-data.
 */
export const TLS_SERVICES = { mariadb: 'mysql', nginx: 'root' } as const;
export type TlsService = keyof typeof TLS_SERVICES;

/** A host's name on the core network: inside the domain, which the lab's CA is limited to. */
export function coreName(model: Model, host: Host): string {
  return `${host.name}.core.${model.domain}`;
}

/** What a service's certificate names: the core name, and the core address clients connect to. */
export function serviceNames(model: Model, host: Host): { dns: string[]; ip: string[] } {
  return { dns: [coreName(model, host)], ip: [addressOf(host, 'core')] };
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
