/**
 * For `foobar up --dry-run` and step tests: what the load balancers' interfaces show once
 * keepalived has settled (each owner holds its virtual addresses), so the plan runs through.
 */
import type { Responder } from '../drivers/recording.ts';
import { findHost, type Model } from '../model/model.ts';
import { VRRP_NETWORK } from '../probes/vrrp.ts';

export function simulatedKeepalived(model: Model): Responder {
  return (target, argv) => {
    const host = target === null ? undefined : findHost(model, target);
    if (host?.roles.includes('lb') !== true || argv.join(' ') !== 'ip -json addr show') return;
    const own = host.addresses[VRRP_NETWORK];
    const held = model.vrrp.virtualAddresses.filter((v) => v.owner === host.name);
    const addresses = [...(own === undefined ? [] : [own]), ...held.map((v) => v.address)];
    const link = {
      ifname: VRRP_NETWORK,
      addr_info: addresses.map((local) => ({ family: 'inet', local })),
    };
    return { stdout: JSON.stringify([link]), stderr: '', exitCode: 0 };
  };
}

/** Several simulations in one responder: the first that answers wins. */
export function allOf(...responders: readonly Responder[]): Responder {
  return (target, argv, input) => {
    for (const respond of responders) {
      const result = respond(target, argv, input);
      if (result !== undefined) return result;
    }
    return undefined;
  };
}
