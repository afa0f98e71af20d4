/** foobar.yaml (parsed) + defaults → a validated Model, or every problem at once. */
import path from 'node:path';
import type { z } from 'zod';
import {
  DEFAULT_ADMIN_EDGE,
  DEFAULT_APP,
  DEFAULT_BACKUP,
  DEFAULT_LOGS,
  DEFAULT_DATABASE,
  DEFAULT_BUFFER_POOL_MB,
  DEFAULT_DNS,
  DEFAULT_DOMAIN,
  DEFAULT_FAILOVER,
  DEFAULT_HOSTS,
  DEFAULT_LAB_NAME,
  DEFAULT_LB,
  DEFAULT_MONITORING,
  DEFAULT_LIMITS,
  DEFAULT_PORTS,
  DEFAULT_STATE_ROOT,
  DEFAULT_SUBNETS,
  DEFAULT_TLS,
  DEFAULT_VRRP,
  DEFAULT_WEB,
} from './defaults.ts';
import { RESERVED_HOST_NAMES } from './lab.ts';
import type {
  FailoverSettings,
  Host,
  Model,
  MonitoringSettings,
  Network,
  Outside,
  Platform,
  SshDestination,
  VrrpSettings,
} from './model.ts';
import {
  fitsInSubnet,
  hostAddress,
  parseBlock,
  parseIPv4,
  parseSubnet,
  subnetContains,
  subnetsOverlap,
} from './net.ts';
import {
  configSchema,
  machinesConfigSchema,
  NETWORKS,
  PORT_NAMES,
  type Config,
  type HostConfig,
  type MachinesConfig,
  type NetworkName,
  type Role,
} from './schema.ts';

export interface Problem {
  /** Key path in foobar.yaml, slash-separated: "hosts/db-02/roles/0". */
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends Error {
  readonly problems: readonly Problem[];
  constructor(source: string, problems: readonly Problem[]) {
    const lines = problems.map((p) => `  ${p.path === '' ? '(top level)' : p.path}: ${p.message}`);
    const count = problems.length === 1 ? 'a problem' : `${problems.length} problems`;
    super(`${source} has ${count}:\n${lines.join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Which networks a role needs, and which it must never be on. */
export const ROLE_NETWORKS: Readonly<Record<Role, { needs: NetworkName[]; never: NetworkName[] }>> =
  {
    client: { needs: ['edge'], never: ['core'] },
    dns: { needs: ['edge'], never: [] },
    lb: { needs: ['edge', 'core'], never: [] },
    web: { needs: ['core'], never: ['edge'] },
    db: { needs: ['core'], never: ['edge'] },
    mon: { needs: ['edge', 'core'], never: [] },
    // On real servers any machine with a disk (the monitor, a load balancer) may keep them.
    backup: { needs: ['core'], never: [] },
  };

/** Roles that cannot share a host because their daemons listen on the same port. */
const EXCLUSIVE_ROLES: readonly (readonly [Role, Role])[] = [['lb', 'web']];

/** Validates `input` (the parsed YAML, or undefined for none) and builds the model. */
export function buildModel(input: unknown, source = 'foobar.yaml'): Model {
  const problems: Problem[] = [];
  const model = isMachinesConfig(input)
    ? parse(machinesConfigSchema, input, source, (config) => placeMachines(config, problems))
    : parse(configSchema, input ?? {}, source, (config) => placeLab(config, problems));
  if (model === undefined || problems.length > 0) throw new ConfigError(source, problems);
  return model;
}

/** `platform: machines` picks the machines' schema; anything else is the lab's (the default). */
function isMachinesConfig(input: unknown): boolean {
  return (
    typeof input === 'object' &&
    input !== null &&
    'platform' in input &&
    input.platform === 'machines'
  );
}

function parse<T>(
  schema: z.ZodType<T>,
  input: unknown,
  source: string,
  build: (config: T) => Omit<Model, 'given'> | undefined,
): Model | undefined {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      source,
      parsed.error.issues.map((issue) => ({
        path: issue.path.map(String).join('/'),
        message: issue.message,
      })),
    );
  }
  const model = build(parsed.data);
  return model === undefined
    ? undefined
    : { ...model, given: parsed.data as Config | MachinesConfig };
}

/** The keys both platforms share, with the same shape on both. */
type SharedConfig = Pick<
  Config,
  | 'domain'
  | 'ports'
  | 'database'
  | 'lb'
  | 'dns'
  | 'tls'
  | 'limits'
  | 'app'
  | 'web'
  | 'failover'
  | 'monitoring'
  | 'backup'
  | 'logs'
>;

/** What is placed on a network: a host number in the lab, an address as given on machines. */
type Placed = number | string;

/**
 * Where a platform puts the hosts: their networks and addresses. The rest of the model is built
 * the same way on every platform.
 */
interface Placement {
  readonly lab: Model['lab'];
  readonly platform: Platform;
  readonly networks: Record<NetworkName, Network> | undefined;
  /** This machine's address on the edge; undefined when it has a problem (already reported). */
  readonly admin: string | undefined;
  readonly adminCore?: string | undefined;
  readonly hosts: readonly {
    name: string;
    roles: readonly Role[];
    on: Partial<Record<NetworkName, Placed>>;
  }[];
  /** Load balancer name → what it normally holds on the edge. */
  readonly virtualAddresses: ReadonlyMap<string, Placed>;
  /** The address of `value` on `network`, or undefined after reporting why it has none. */
  locate(network: Network, value: Placed, path: string): string | undefined;
  readonly reservedNames: readonly string[];
  /** A value to show in the example of a missing virtual address. */
  readonly exampleVirtual: string;
  readonly vrrp: Omit<NonNullable<Config['vrrp']>, 'virtualAddresses'>;
}

function placeLab(config: Config, problems: Problem[]): Omit<Model, 'given'> | undefined {
  const networks = buildNetworks(config, problems);
  const labName = config.lab?.name ?? DEFAULT_LAB_NAME;
  const adminNumber = config.admin?.edge ?? DEFAULT_ADMIN_EDGE;
  let admin: string | undefined;
  if (networks !== undefined) {
    if (!fitsInSubnet(networks.edge.subnet, adminNumber)) {
      problems.push({
        path: 'admin/edge',
        message: `${adminNumber} does not fit in ${networks.edge.subnet.cidr}`,
      });
    } else {
      admin = hostAddress(networks.edge.subnet, adminNumber);
    }
  }
  const { virtualAddresses: overrides, ...vrrp } = config.vrrp ?? {};
  const virtualAddresses = new Map(Object.entries(DEFAULT_VRRP.virtualAddresses));
  for (const [owner, n] of Object.entries(overrides ?? {})) {
    if (n === null) virtualAddresses.delete(owner);
    else virtualAddresses.set(owner, n);
  }
  return assemble(
    config,
    {
      lab: {
        name: labName,
        stateDir: config.lab?.stateDir ?? path.join(DEFAULT_STATE_ROOT, labName),
      },
      platform: { kind: 'lab' },
      networks,
      admin,
      hosts: [...mergeHosts(config)].map(([name, host]) => ({
        name,
        roles: host.roles,
        on: definedEntries({ edge: host.edge, core: host.core }),
      })),
      virtualAddresses,
      locate: (network, value, where) => {
        if (typeof value === 'number' && fitsInSubnet(network.subnet, value))
          return hostAddress(network.subnet, value);
        problems.push({ path: where, message: `${value} does not fit in ${network.subnet.cidr}` });
        return undefined;
      },
      reservedNames: RESERVED_HOST_NAMES,
      exampleVirtual: '10',
      vrrp,
    },
    problems,
  );
}

/**
 * Where the operator's SSH reaches the machines that have no edge address: given (their firewalls
 * let it in on the core network), required as soon as one machine has no edge address.
 */
function adminCore(
  config: MachinesConfig,
  networks: ReturnType<typeof buildNetworks>,
  problems: Problem[],
): string | undefined {
  const given = config.admin.core;
  const coreOnly = Object.entries(config.hosts)
    .filter(([, machine]) => machine.edge === undefined)
    .map(([name]) => name);
  if (given === undefined) {
    if (coreOnly.length > 0) {
      problems.push({
        path: 'admin/core',
        message: `${coreOnly.join(', ')} have no edge address: give the core address your SSH reaches them from (your jump host's core address, or a VPN's)`,
      });
    }
    return undefined;
  }
  if (networks !== undefined && !subnetContains(networks.core.subnet, given)) {
    problems.push({
      path: 'admin/core',
      message: `${given} is not in the core network ${networks.core.subnet.cidr}`,
    });
  }
  return given;
}

/**
 * Real machines: nothing is derived. Each address is given and must lie in its network's subnet
 * (a virtual address moves only within one network; replication ids come from core addresses).
 */
function placeMachines(
  config: MachinesConfig,
  problems: Problem[],
): Omit<Model, 'given'> | undefined {
  const networks = buildNetworks(config, problems);
  const name = config.machines.name ?? DEFAULT_LAB_NAME;
  const defaults = config.machines.ssh ?? {};
  const ssh: Record<string, SshDestination> = {};
  const destinations = new Map<string, string>();
  for (const [host, machine] of Object.entries(config.hosts)) {
    const user = machine.ssh.user ?? defaults.user;
    const port = machine.ssh.port ?? defaults.port;
    const destination: SshDestination = {
      host: machine.ssh.host,
      ...(user === undefined ? {} : { user }),
      ...(port === undefined ? {} : { port }),
    };
    const key = port === undefined ? destination.host : `${destination.host}:${port}`;
    const other = destinations.get(key);
    if (other !== undefined) {
      problems.push({
        path: `hosts/${host}/ssh`,
        message: `${key} is already ${other}'s SSH destination: one machine is one host (give it several roles)`,
      });
    }
    destinations.set(key, host);
    ssh[host] = destination;
  }
  const { virtualAddresses, ...vrrp } = config.vrrp;
  const sshConfig = config.machines.sshConfig;
  return assemble(
    config,
    {
      lab: {
        name,
        stateDir: config.machines.stateDir ?? path.join(DEFAULT_STATE_ROOT, 'machines', name),
      },
      platform: {
        kind: 'machines',
        ssh,
        ...(sshConfig === undefined ? {} : { sshConfig }),
        outside: outside(config, problems),
      },
      networks,
      admin: config.admin.edge,
      adminCore: adminCore(config, networks, problems),
      hosts: Object.entries(config.hosts).map(([host, machine]) => ({
        name: host,
        roles: machine.roles,
        on: definedEntries({ edge: machine.edge, core: machine.core }),
      })),
      virtualAddresses: new Map(Object.entries(virtualAddresses)),
      locate: (network, value, where) => {
        const text = String(value);
        const ip = parseIPv4(text);
        const { subnet } = network;
        if (ip !== undefined && subnetContains(subnet, text)) {
          if (fitsInSubnet(subnet, ip - subnet.base)) return text;
          problems.push({
            path: where,
            message: `${text} is the network or broadcast address of ${subnet.cidr}`,
          });
          return undefined;
        }
        problems.push({
          path: where,
          message: `${text} is not in the ${network.name} network ${subnet.cidr}`,
        });
        return undefined;
      },
      reservedNames: [],
      exampleVirtual: 'an edge address',
      vrrp,
    },
    problems,
  );
}

/**
 * What the machines reach outside the site, the blocks as the firewall names them ("a.b.c.d" for
 * one address), each once, in order. A block holding one of the site's own addresses (a machine's,
 * a virtual one) is a problem: those are reached by the flows, which the reachability test checks.
 */
function outside(config: MachinesConfig, problems: Problem[]): Outside {
  const own: [string, string][] = [
    ...Object.entries(config.hosts).flatMap(([name, machine]) =>
      [machine.edge, machine.core].flatMap((a): [string, string][] =>
        a === undefined ? [] : [[a, `${name}'s ${a}`]],
      ),
    ),
    ...Object.entries(config.vrrp.virtualAddresses).map(([name, a]): [string, string] => [
      a,
      `the virtual address of ${name}`,
    ]),
  ];
  const blocks = (key: keyof Outside): string[] => {
    const found = config.machines[key].flatMap((text, i) => {
      const block = parseBlock(text);
      if (typeof block === 'string') return [];
      const inside = own.filter(([a]) => subnetContains(block, a)).map(([, what]) => what);
      if (inside.length > 0) {
        problems.push({
          path: `machines/${key}/${i}`,
          message: `${text} holds the site's own addresses (${inside.join(', ')}): outside needs are outside the site`,
        });
      }
      return [block.cidr];
    });
    return [...new Set(found)];
  };
  return {
    resolvers: blocks('resolvers'),
    timeServers: blocks('timeServers'),
    mirrors: blocks('mirrors'),
  };
}

function assemble(
  config: SharedConfig,
  placement: Placement,
  problems: Problem[],
): Omit<Model, 'given'> | undefined {
  const { networks } = placement;
  const ports = { ...DEFAULT_PORTS, ...definedEntries(config.ports ?? {}) };

  const hosts: Host[] = [];
  const taken = new Map<string, string>();
  if (placement.admin !== undefined) taken.set(placement.admin, 'admin');
  for (const { name, roles, on } of placement.hosts) {
    if (placement.reservedNames.includes(name)) {
      problems.push({
        path: `hosts/${name}`,
        message: `"${name}" is reserved for the lab itself: choose another name`,
      });
    }
    checkRoles(name, roles, on, problems);
    const addresses: Partial<Record<NetworkName, string>> = {};
    for (const network of NETWORKS) {
      const value = on[network];
      if (value === undefined || networks === undefined) continue;
      const address = placement.locate(networks[network], value, `hosts/${name}/${network}`);
      if (address === undefined) continue;
      const owner = taken.get(address);
      if (owner !== undefined) {
        problems.push({
          path: `hosts/${name}/${network}`,
          message: `${address} is already ${owner}'s address`,
        });
      }
      taken.set(address, name);
      addresses[network] = address;
    }
    hosts.push({ name, roles: [...new Set(roles)], addresses });
  }
  hosts.sort((a, b) => a.name.localeCompare(b.name));
  for (const role of ['lb', 'web', 'db'] as const) {
    if (!hosts.some((h) => h.roles.includes(role))) {
      problems.push({ path: 'hosts', message: `at least one host needs the ${role} role` });
    }
  }
  checkPorts(ports, problems);

  const dbHosts = hosts.filter((h) => h.roles.includes('db')).map((h) => h.name);
  const primary = config.database?.primary ?? dbHosts[0];
  if (primary !== undefined && !dbHosts.includes(primary)) {
    problems.push({
      path: 'database/primary',
      message: `"${primary}" is not a host with the db role (those are: ${dbHosts.join(', ') || 'none'})`,
    });
  }

  const app = { ...DEFAULT_APP, ...definedEntries(config.app ?? {}) };
  const web = { ...DEFAULT_WEB, ...definedEntries(config.web ?? {}) };
  if (app.keepAliveTimeoutSeconds <= web.upstreamKeepaliveSeconds) {
    problems.push({
      path: 'app/keepAliveTimeoutSeconds',
      message: `must be longer than web/upstreamKeepaliveSeconds (${web.upstreamKeepaliveSeconds}), or Nginx reuses connections the app has closed`,
    });
  }

  const monitoring = { ...DEFAULT_MONITORING, ...definedEntries(config.monitoring ?? {}) };
  checkMonitoring(monitoring, problems);
  const failover = { ...DEFAULT_FAILOVER, ...definedEntries(config.failover ?? {}) };
  checkFailover(failover, problems);
  const { rateLimit, ...limits } = config.limits ?? {};
  // The default exempts the lab's client where there is one (a config without it is no error).
  const exempt =
    rateLimit?.exempt ??
    DEFAULT_LIMITS.rateLimit.exempt.filter((name) => hosts.some((h) => h.name === name));
  exempt.forEach((name, i) => {
    if (hosts.find((h) => h.name === name)?.addresses.edge === undefined) {
      problems.push({
        path: `limits/rateLimit/exempt/${i}`,
        message: `"${name}" is not a host on the edge network, where clients come from`,
      });
    }
  });

  const vrrp = buildVrrp(placement, hosts, taken, problems);

  if (
    networks === undefined ||
    placement.admin === undefined ||
    primary === undefined ||
    vrrp === undefined
  )
    return undefined;
  return {
    lab: placement.lab,
    platform: placement.platform,
    domain: config.domain ?? DEFAULT_DOMAIN,
    networks,
    admin: {
      edge: placement.admin,
      ...(placement.adminCore === undefined ? {} : { core: placement.adminCore }),
    },
    hosts,
    ports,
    database: {
      ...DEFAULT_DATABASE,
      ...definedEntries({ ...config.database, primary: undefined }),
      bufferPoolMb:
        config.database?.bufferPoolMb ?? DEFAULT_BUFFER_POOL_MB[placement.platform.kind],
      initialPrimary: primary,
    },
    lb: { ...DEFAULT_LB, ...definedEntries(config.lb ?? {}) },
    vrrp,
    dns: { ...DEFAULT_DNS, ...definedEntries(config.dns ?? {}) },
    tls: { ...DEFAULT_TLS, ...definedEntries(config.tls ?? {}) },
    limits: {
      ...DEFAULT_LIMITS,
      ...definedEntries(limits),
      rateLimit: { ...DEFAULT_LIMITS.rateLimit, ...definedEntries(rateLimit ?? {}), exempt },
    },
    app,
    web,
    monitoring,
    failover,
    backup: { ...DEFAULT_BACKUP, ...definedEntries(config.backup ?? {}) },
    logs: { ...DEFAULT_LOGS, ...definedEntries(config.logs ?? {}) },
  };
}

/**
 * The edge's virtual addresses: the defaults merged by load balancer name with foobar.yaml's
 * (`null` removes one). Each belongs to a load balancer and is an edge address no host has.
 */
function buildVrrp(
  placement: Placement,
  hosts: readonly Host[],
  taken: Map<string, string>,
  problems: Problem[],
): VrrpSettings | undefined {
  const { networks } = placement;
  const lbs = hosts.filter((h) => h.roles.includes('lb')).map((h) => h.name);
  const virtualAddresses: VrrpSettings['virtualAddresses'][number][] = [];
  const given = [...placement.virtualAddresses].sort(([a], [b]) => a.localeCompare(b));
  for (const [owner, value] of given) {
    const path = `vrrp/virtualAddresses/${owner}`;
    if (!lbs.includes(owner)) {
      problems.push({
        path,
        message: `"${owner}" is not a load balancer (those are: ${lbs.join(', ') || 'none'}): name one, or set it to null`,
      });
      continue;
    }
    if (networks === undefined) continue;
    const address = placement.locate(networks.edge, value, path);
    if (address === undefined) continue;
    const other = taken.get(address);
    if (other !== undefined) {
      problems.push({ path, message: `${address} is already ${other}'s address` });
      continue;
    }
    taken.set(address, `${owner}'s virtual address`);
    virtualAddresses.push({ address, owner, routerId: virtualAddresses.length + 1 });
  }
  if (lbs.length > 0 && given.length === 0) {
    problems.push({
      path: 'vrrp/virtualAddresses',
      message: `DNS needs at least one virtual address: give a load balancer one (e.g. vrrp/virtualAddresses/${lbs[0] ?? 'lb-01'}: ${placement.exampleVirtual})`,
    });
  }
  if (virtualAddresses.length > 255) {
    problems.push({ path: 'vrrp/virtualAddresses', message: 'VRRP allows at most 255' });
  }
  if (networks === undefined || virtualAddresses.length !== given.length) return undefined;
  return { ...DEFAULT_VRRP, ...definedEntries(placement.vrrp), virtualAddresses };
}

function buildNetworks(
  config: Pick<Config, 'networks'>,
  problems: Problem[],
): Record<NetworkName, Network> | undefined {
  const result: Partial<Record<NetworkName, Network>> = {};
  for (const name of NETWORKS) {
    const text = config.networks?.[name]?.subnet ?? DEFAULT_SUBNETS[name];
    const subnet = parseSubnet(text);
    if (typeof subnet === 'string')
      problems.push({ path: `networks/${name}/subnet`, message: subnet });
    else result[name] = { name, subnet };
  }
  const { edge, core } = result;
  if (edge === undefined || core === undefined) return undefined;
  if (subnetsOverlap(edge.subnet, core.subnet)) {
    problems.push({
      path: 'networks/core/subnet',
      message: `${core.subnet.cidr} overlaps the edge network ${edge.subnet.cidr}`,
    });
  }
  return { edge, core };
}

/** A host in foobar.yaml replaces the default host of that name; `null` removes it. */
function mergeHosts(config: Config): Map<string, HostConfig> {
  const merged = new Map<string, HostConfig>(Object.entries(DEFAULT_HOSTS));
  for (const [name, host] of Object.entries(config.hosts ?? {})) {
    if (host === null) merged.delete(name);
    else merged.set(name, host);
  }
  return merged;
}

function checkRoles(
  name: string,
  roles: readonly Role[],
  on: Partial<Record<NetworkName, Placed>>,
  problems: Problem[],
): void {
  for (const role of roles) {
    const rule = ROLE_NETWORKS[role];
    for (const network of rule.needs) {
      if (on[network] === undefined) {
        problems.push({
          path: `hosts/${name}/${network}`,
          message: `a ${role} host needs an address on the ${network} network`,
        });
      }
    }
    for (const network of rule.never) {
      if (on[network] !== undefined) {
        problems.push({
          path: `hosts/${name}/${network}`,
          message: `a ${role} host must not be on the ${network} network`,
        });
      }
    }
  }
  for (const [a, b] of EXCLUSIVE_ROLES) {
    if (roles.includes(a) && roles.includes(b)) {
      problems.push({
        path: `hosts/${name}/roles`,
        message: `the ${a} and ${b} roles cannot share a host`,
      });
    }
  }
}

function checkPorts(ports: Record<string, number>, problems: Problem[]): void {
  const seen = new Map<number, string>();
  for (const name of PORT_NAMES) {
    const port = ports[name];
    if (port === undefined) continue;
    const other = seen.get(port);
    if (other !== undefined)
      problems.push({ path: `ports/${name}`, message: `${port} is already the ${other} port` });
    seen.set(port, name);
  }
}

function checkMonitoring(settings: MonitoringSettings, problems: Problem[]): void {
  const { scrapeIntervalSeconds: scrape, rateWindowSeconds: window } = settings;
  if (window < 4 * scrape) {
    problems.push({
      path: 'monitoring/rateWindowSeconds',
      message: `must be at least 4 scrape intervals (${4 * scrape}), or rates have too few samples`,
    });
  }
  if (settings.certificateCriticalDays >= settings.certificateWarningDays) {
    problems.push({
      path: 'monitoring/certificateCriticalDays',
      message: `must be fewer than monitoring/certificateWarningDays (${settings.certificateWarningDays})`,
    });
  }
}

function checkFailover(settings: FailoverSettings, problems: Problem[]): void {
  if (settings.probeTimeoutMs < settings.probeIntervalMs) {
    problems.push({
      path: 'failover/probeTimeoutMs',
      message: `must be at least failover/probeIntervalMs (${settings.probeIntervalMs}): probes would overlap`,
    });
  }
}

function definedEntries<T extends object>(
  value: T,
): { [K in keyof T]-?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]-?: Exclude<T[K], undefined>;
  };
}
