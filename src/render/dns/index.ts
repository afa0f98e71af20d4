/**
 * The authoritative DNS of the domain: NSD's config and the zone, both from the model, the same
 * zone on every dns host. `www` and the apex get one A record per virtual address of the edge
 * (held by the load balancers through VRRP); NSD rotates their order between answers.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { HostPaths } from '../../model/layout.ts';
import {
  addressOf,
  hostsWithRole,
  siteAddresses,
  type Host,
  type Model,
} from '../../model/model.ts';
import { renderedHeader } from '../header.ts';

/** The system user Debian's nsd package creates; NSD drops to it after binding port 53. */
export const NSD_USER = 'nsd';

export function nsdFiles(
  model: Model,
  paths: HostPaths,
): {
  config: string;
  zone: string;
  log: string;
  output: string;
  /** NSD writes here after dropping to its own user. */
  state: string;
  zoneList: string;
  xfrd: string;
} {
  const state = path.join(paths.run, 'nsd');
  return {
    config: path.join(paths.etc, 'nsd.conf'),
    zone: path.join(paths.etc, `${model.domain}.zone`),
    log: path.join(paths.log, 'nsd.log'),
    output: path.join(paths.log, 'nsd.out.log'),
    state,
    zoneList: path.join(state, 'zone.list'),
    xfrd: path.join(state, 'xfrd.state'),
  };
}

/** The name servers of the zone: every dns host, as <host>.<domain>. */
export function nameServers(model: Model): { label: string; name: string; address: string }[] {
  return hostsWithRole(model, 'dns').map((host) => ({
    label: host.name,
    name: `${host.name}.${model.domain}`,
    address: addressOf(host, 'edge'),
  }));
}

/** Buckets of NSD's response-rate-limiting table (about 64 bytes each). */
export const NSD_RRL_BUCKETS = 16_384;

export function renderNsdConfig(model: Model, host: Host, paths: HostPaths): string {
  const files = nsdFiles(model, paths);
  return `${renderedHeader('#', `NSD for ${host.name}`)}
server:
    ip-address: ${addressOf(host, 'edge')}
    port: ${model.ports.dns}
    do-ip4: yes
    do-ip6: no
    # One server process: its round-robin counter alone orders the answers, so consecutive
    # answers alternate strictly (each process would keep its own counter).
    server-count: 1
    round-robin: yes
    # foobar runs NSD in the foreground and keeps its PID itself.
    pidfile: ""
    username: ${NSD_USER}
    chroot: ""
    zonesdir: "${paths.etc}"
    zonelistfile: "${files.zoneList}"
    xfrdfile: "${files.xfrd}"
    # Not NSD's default /tmp: it makes nsd-xfr-<pid> there and leaves it when it is stopped (one
    # per lab brought down, found after the tests); in the state directory, down --purge takes it.
    xfrdir: "${files.state}"
    database: ""
    logfile: "${files.log}"
    verbosity: 1
    hide-version: yes
    hide-identity: yes
    refuse-any: yes
    minimal-responses: yes
    # Response rate limiting stays on (NSD's 200 answers a second per client /24); its table is
    # sized for a small site's resolvers: NSD's default of a million buckets is 31 MB of shared
    # memory touched at start (70 MB of PSS for NSD's three processes, 8.6 MB with these 16,384).
    rrl-size: ${NSD_RRL_BUCKETS}

remote-control:
    control-enable: no

zone:
    name: ${model.domain}
    zonefile: "${files.zone}"
`;
}

export function renderZone(model: Model): string {
  const origin = `${model.domain}.`;
  const ttl = model.dns.ttlSeconds;
  const servers = nameServers(model);
  const site = siteAddresses(model);
  const records = [
    ...servers.map((ns) => `@\tIN\tNS\t${ns.name}.`),
    ...servers.map((ns) => `${ns.label}\tIN\tA\t${ns.address}`),
    ...site.map((address) => `@\tIN\tA\t${address}`),
    ...site.map((address) => `www\tIN\tA\t${address}`),
  ];
  // Every server gets this file from the model (no zone transfers): a hash of the records
  // changes whenever they do, and keeps the file the same for the same model.
  const serial =
    createHash('sha256').update(records.join('\n')).digest().readUInt32BE(0) % 2_000_000_000;
  const primary = servers[0]?.name ?? `dns.${model.domain}`;
  return `${renderedHeader(';', `Zone ${model.domain}`)}
$ORIGIN ${origin}
$TTL ${ttl}
; serial refresh retry expire negative-ttl
@\tIN\tSOA\t${primary}. hostmaster.${origin} ${serial} 3600 600 86400 ${ttl}
${records.join('\n')}
`;
}

/**
 * A client's resolver: the lab's name servers, quick to give up on one that does not answer
 * (1 s, glibc's least), and taken in turn (rotate): with one server silent, half the lookups wait
 * for it rather than all of them when it is the first one listed.
 */
export function renderResolvConf(model: Model): string {
  return `${renderedHeader('#', 'resolv.conf of a lab client')}${nameServers(model)
    .map((ns) => `nameserver ${ns.address}\n`)
    .join('')}options timeout:1 attempts:2 rotate
`;
}
