/**
 * keepalived on a load balancer: one VRRP instance per virtual address of the edge. The address's
 * owner has the higher priority and takes it whenever its HAProxy is healthy; any other load
 * balancer holds it meanwhile. Adverts go unicast to the other load balancers (VRRPv3, so the
 * interval can be under a second).
 */
import path from 'node:path';
import type { HostPaths } from '../../model/layout.ts';
import {
  addressOf,
  hostsWithRole,
  type Host,
  type Model,
  type VirtualAddress,
} from '../../model/model.ts';
import { renderedHeader } from '../header.ts';

/** The owner's priority, and the highest a load balancer holding another's address gets. */
export const OWNER_PRIORITY = 150;
export const STANDBY_PRIORITY = 100;
/** The track script's name: keepalived's log names it on every change. */
export const HEALTH_SCRIPT = 'haproxy_health';
/** keepalived runs a track script once a second at most (its interval is whole seconds). */
const SCRIPT_INTERVAL_MS = 1000;
/**
 * How long one ask of HAProxy may take. It answers on loopback in milliseconds, but a machine
 * this busy stalls for a second now and then: a stall must not move the addresses (measured: a
 * 0.5 s limit and a 2 s script timeout did once). A dead HAProxy refuses at once.
 */
const ASK_TIMEOUT_SECONDS = 2;

export function keepalivedFiles(paths: HostPaths): {
  config: string;
  /** foobar's pid file of the process it started. */
  pid: string;
  /** keepalived's own pid files: they must differ from foobar's (see commands/keepalived). */
  mainPid: string;
  vrrpPid: string;
  log: string;
} {
  return {
    config: path.join(paths.etc, 'keepalived.conf'),
    pid: path.join(paths.run, 'keepalived.pid'),
    mainPid: path.join(paths.run, 'keepalived-main.pid'),
    vrrpPid: path.join(paths.run, 'keepalived-vrrp.pid'),
    log: path.join(paths.log, 'keepalived.log'),
  };
}

/** The VRRP instance of a virtual address, as keepalived's log names it. */
export function instanceName(vip: VirtualAddress): string {
  return `vip_${vip.owner}`;
}

/** The priority of a load balancer for an address: its owner's, or a standby's (distinct). */
export function priorityFor(model: Model, host: Host, vip: VirtualAddress): number {
  if (host.name === vip.owner) return OWNER_PRIORITY;
  const standbys = hostsWithRole(model, 'lb').filter((lb) => lb.name !== vip.owner);
  return STANDBY_PRIORITY - standbys.findIndex((lb) => lb.name === host.name);
}

/**
 * keepalived's script runs once a second; within it curl asks HAProxy's monitor-uri several
 * times, `healthCheckIntervalMs` apart (--rate), and stops at the first failure (--fail-early):
 * a dead HAProxy is seen within about that interval, not within a second.
 */
export function healthCheckCommand(model: Model): string {
  const interval = model.vrrp.healthCheckIntervalMs;
  const asks = Math.max(1, Math.floor((SCRIPT_INTERVAL_MS * 0.7) / interval));
  const perMinute = Math.round(60_000 / interval);
  return (
    `/usr/bin/curl -fsS --fail-early --rate ${perMinute}/m -m ${ASK_TIMEOUT_SECONDS} ` +
    `http://127.0.0.1:${model.ports.lbStats}/health?[1-${asks}]`
  );
}

export function renderKeepalivedConfig(model: Model, host: Host): string {
  const { vrrp } = model;
  const network = 'edge';
  const prefix = model.networks.edge.subnet.prefix;
  const own = addressOf(host, network);
  const peers = hostsWithRole(model, 'lb')
    .filter((lb) => lb.name !== host.name)
    .map((lb) => addressOf(lb, network));
  const advert = (vrrp.advertIntervalMs / 1000).toString();
  const instances = vrrp.virtualAddresses.map(
    (vip) => `vrrp_instance ${instanceName(vip)} {
    # BACKUP at start, whatever the priority: the owner waits to hear the others first.
    state BACKUP
    interface ${network}
    virtual_router_id ${vip.routerId}
    priority ${priorityFor(model, host, vip)}
    advert_int ${advert}
    preempt_delay ${vrrp.preemptDelaySeconds}
    unicast_src_ip ${own}
    unicast_peer {
${peers.map((peer) => `        ${peer}`).join('\n')}
    }
    virtual_ipaddress {
        ${vip.address}/${prefix} dev ${network}
    }
    # HAProxy unhealthy: this instance goes to FAULT and gives the address up at once.
    track_script {
        ${HEALTH_SCRIPT}
    }
}`,
  );
  return `${renderedHeader('#', `keepalived for ${host.name}`)}
global_defs {
    router_id ${host.name}
    # The track script runs as root and is a program root owns (curl).
    script_user root
    enable_script_security
    # Version 3: adverts every ${advert} s (version 2 counts whole seconds).
    vrrp_version 3
    # After both held an address (a healed partition), the one keeping it sends gratuitous ARPs
    # again, so clients stop sending to the one that yielded.
    vrrp_garp_lower_prio_repeat 1
    vrrp_higher_prio_send_advert true
}

vrrp_script ${HEALTH_SCRIPT} {
    # HAProxy's monitor-uri: 200 while it has a web server up (a load balancer without one must
    # not hold an address).
    script "${healthCheckCommand(model)}"
    interval ${SCRIPT_INTERVAL_MS / 1000}
    timeout ${SCRIPT_INTERVAL_MS / 1000 + 2 * ASK_TIMEOUT_SECONDS}
    fall 1
    rise ${vrrp.rise}
}

${instances.join('\n\n')}
`;
}
