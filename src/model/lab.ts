/** Names of the lab's own objects on this machine, derived from the lab name. */
import path from 'node:path';
import type { Model } from './model.ts';

/** `ip netns exec NAME` bind-mounts the files of /etc/netns/NAME over those of /etc. */
export const NETNS_ETC = '/etc/netns';

/** Host names the lab uses for itself; the config validator refuses them. */
export const RESERVED_HOST_NAMES = ['net', 'admin'] as const;

export interface LabNames {
  /** The namespace that holds the network bridges (one per network). */
  readonly switchNamespace: string;
  namespaceOf(host: string): string;
  /** This machine's end of its link to the edge network. */
  readonly adminLink: string;
  /** The switch's end of the link of a host (or "admin") to a network. */
  portOf(host: string, network: string): string;
  /** The resolv.conf a host's processes see in place of this machine's. */
  resolvConfOf(host: string): string;
}

export function labNames(model: Model): LabNames {
  const prefix = model.lab.name;
  return {
    switchNamespace: `${prefix}-net`,
    namespaceOf: (host) => `${prefix}-${host}`,
    adminLink: `${prefix}-edge`,
    portOf: (host, network) => `${host}-${network.charAt(0)}`,
    resolvConfOf: (host) => path.join(NETNS_ETC, `${prefix}-${host}`, 'resolv.conf'),
  };
}

/** Every namespace of the lab, the switch last (hosts' links hang off it). */
export function labNamespaces(model: Model): string[] {
  const names = labNames(model);
  return [...model.hosts.map((h) => names.namespaceOf(h.name)), names.switchNamespace];
}
