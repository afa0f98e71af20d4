/**
 * The failover manager's config file: its host and the lab's model, written by `foobar up`. The
 * model travels as the foobar.yaml that builds it again (configOf), so the manager validates it
 * like any config and runs on exactly the model `up` had.
 */
import { buildModel } from '../model/build.ts';
import { parseIPv4 } from '../model/net.ts';
import type { Model } from '../model/model.ts';
import type { Config, HostConfig } from '../model/schema.ts';
import { DEFAULT_HOSTS } from '../model/defaults.ts';
import { NETWORKS } from '../model/schema.ts';

/** A foobar.yaml (as data) from which buildModel builds this very model. */
export function configOf(model: Model): Config {
  const hosts: Record<string, HostConfig | null> = Object.fromEntries(
    model.hosts.map((host) => {
      const numbers = Object.fromEntries(
        NETWORKS.flatMap((network) => {
          const address = host.addresses[network];
          const value = address === undefined ? undefined : parseIPv4(address);
          return value === undefined
            ? []
            : [[network, value - model.networks[network].subnet.base]];
        }),
      );
      return [host.name, { roles: [...host.roles], ...numbers }];
    }),
  );
  // Hosts of the defaults that this model lacks are removed explicitly.
  for (const name of Object.keys(DEFAULT_HOSTS)) if (!(name in hosts)) hosts[name] = null;
  const adminEdge = parseIPv4(model.admin.edge) ?? 0;
  // The schema's name is not configurable.
  const { initialPrimary, semiSyncTimeoutMs, heartbeatMs, readYourWritesWaitMs } = model.database;
  const database = { semiSyncTimeoutMs, heartbeatMs, readYourWritesWaitMs };
  return {
    lab: { ...model.lab },
    domain: model.domain,
    networks: {
      edge: { subnet: model.networks.edge.subnet.cidr },
      core: { subnet: model.networks.core.subnet.cidr },
    },
    admin: { edge: adminEdge - model.networks.edge.subnet.base },
    hosts,
    ports: { ...model.ports },
    database: { primary: initialPrimary, ...database },
    lb: { ...model.lb },
    dns: { ...model.dns },
    tls: { ...model.tls },
    limits: {
      ...model.limits,
      rateLimit: { ...model.limits.rateLimit, exempt: [...model.limits.rateLimit.exempt] },
    },
    app: { ...model.app },
    web: { ...model.web },
    monitoring: { ...model.monitoring },
    failover: { ...model.failover },
  };
}

export function renderManagerConfig(host: string, model: Model): string {
  return `${JSON.stringify({ host, config: configOf(model) }, null, 2)}\n`;
}

export function parseManagerConfig(text: string, source: string): { host: string; model: Model } {
  const data: unknown = JSON.parse(text);
  if (
    typeof data !== 'object' ||
    data === null ||
    !('host' in data) ||
    typeof data.host !== 'string' ||
    !('config' in data)
  )
    throw new Error(`${source}: expected {"host": NAME, "config": {...}}`);
  return { host: data.host, model: buildModel(data.config, source) };
}
