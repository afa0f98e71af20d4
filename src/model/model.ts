/** The model: every host, address, port and tunable of the infrastructure, validated and complete. */
import type { Subnet } from './net.ts';
import type { Config, MachinesConfig, NetworkName, PortName, Role } from './schema.ts';

export type { NetworkName, PortName, Role } from './schema.ts';

export interface Network {
  readonly name: NetworkName;
  readonly subnet: Subnet;
}

export interface Host {
  readonly name: string;
  readonly roles: readonly Role[];
  readonly addresses: Readonly<Partial<Record<NetworkName, string>>>;
}

/** Where an SSH connection to a machine goes; what is left out comes from the SSH config. */
export interface SshDestination {
  /** A host name, an alias of the SSH config, or an address. */
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
}

/** The lab: every host a network namespace on this machine (the default). */
export interface LabPlatform {
  readonly kind: 'lab';
}

/** Real machines over SSH: keys, agent and jump hosts come from the SSH config, as with ssh. */
export interface MachinesPlatform {
  readonly kind: 'machines';
  /** Each host's SSH destination, by host name. */
  readonly ssh: Readonly<Record<string, SshDestination>>;
  /** An ssh_config read instead of ~/.ssh/config (`ssh -F`). */
  readonly sshConfig?: string;
  /** What every machine reaches outside the site for itself (flows.ts OWN_NEEDS). */
  readonly outside: Outside;
}

/**
 * Addresses and blocks ("a.b.c.d", "a.b.c.d/n") outside the site that its machines need for
 * themselves: their resolvers, their time servers, the package mirror (while `up` installs).
 */
export interface Outside {
  readonly resolvers: readonly string[];
  readonly timeServers: readonly string[];
  readonly mirrors: readonly string[];
}

export type Platform = LabPlatform | MachinesPlatform;

export interface Model {
  /**
   * The foobar.yaml it was built from, as validated: what a process that rebuilds the model
   * elsewhere (the failover managers) is given, so nothing of it is lost on the way.
   */
  readonly given: Config | MachinesConfig;
  /** On machines, `name` names the deployment and `stateDir` is foobar's own state on this machine. */
  readonly lab: { readonly name: string; readonly stateDir: string };
  readonly platform: Platform;
  readonly domain: string;
  readonly networks: Readonly<Record<NetworkName, Network>>;
  /** This machine's address on each network it joins (the admin's shell and browser). */
  readonly admin: {
    readonly edge: string;
    /**
     * Machines: where the operator's SSH arrives from on the core network (a jump host's core
     * address, a VPN's), for the machines that have no edge address.
     */
    readonly core?: string;
  };
  /** Sorted by name, so every output derived from the model is in a stable order. */
  readonly hosts: readonly Host[];
  readonly ports: Readonly<Record<PortName, number>>;
  readonly database: {
    /** The primary of a new lab; `foobar db promote` and `switchover` change who it is later. */
    readonly initialPrimary: string;
    /** The app's schema on the database servers. */
    readonly schema: string;
    readonly semiSyncTimeoutMs: number;
    readonly heartbeatMs: number;
    readonly readYourWritesWaitMs: number;
    /** InnoDB's buffer pool (innodb_buffer_pool_size), in MB. */
    readonly bufferPoolMb: number;
  };
  readonly lb: {
    readonly checkIntervalMs: number;
    readonly fall: number;
    readonly rise: number;
    readonly retries: number;
  };
  /** The edge's virtual addresses and how the load balancers hand them over (VRRP). */
  readonly vrrp: VrrpSettings;
  readonly dns: { readonly ttlSeconds: number };
  readonly tls: { readonly hstsMaxAgeSeconds: number; readonly acme?: AcmeSettings };
  /** What the load balancers accept from one client (DESIGN §1: the edge). */
  readonly limits: {
    /** Slow clients: the whole request head must arrive within this. */
    readonly requestTimeoutSeconds: number;
    /** Larger request bodies get 413 (from Nginx, which drains them so clients see it). */
    readonly maxBodyBytes: number;
    readonly maxUrlBytes: number;
    readonly maxHeaders: number;
    readonly rateLimit: {
      readonly requests: number;
      readonly periodSeconds: number;
      /** Host names whose requests are not counted. */
      readonly exempt: readonly string[];
    };
  };
  readonly app: { readonly keepAliveTimeoutSeconds: number };
  readonly web: { readonly upstreamKeepaliveSeconds: number };
  readonly monitoring: MonitoringSettings;
  readonly failover: FailoverSettings;
  readonly backup: BackupSettings;
  readonly logs: LogSettings;
}

/** How much each host's logs may hold (`DEFAULT_LOGS` says what each is). */
export interface LogSettings {
  readonly maxMegabytesPerHost: number;
  readonly rotateHours: number;
  readonly keepDays: number;
}

/** Backups and their retention (`DEFAULT_BACKUP` says what each is). */
export interface BackupSettings {
  readonly fullIntervalMinutes: number;
  readonly binlogFlushSeconds: number;
  readonly keepDaily: number;
  readonly keepWeekly: number;
  readonly fullMaxAgeMinutes: number;
  readonly binlogMaxAgeSeconds: number;
}

/** The site's certificate from an ACME certificate authority (RFC 8555), answered by HTTP-01. */
export interface AcmeSettings {
  /** The CA's directory URL (https). */
  readonly directory: string;
  /** The account's contact, for the CA's expiry warnings. */
  readonly email?: string;
  /** A PEM file of the authorities of the directory's own HTTPS, when not this machine's. */
  readonly caBundle?: string;
  /** A PEM file of the roots the issued certificates chain to; default: the system's store. */
  readonly roots?: string;
  /**
   * Renew this long before expiry (certbot's renew_before_expiry); default: once a third of the
   * certificate's lifetime is left, Let's Encrypt's advice.
   */
  readonly renewBeforeSeconds?: number;
}

export interface FailoverSettings {
  /** Off: the managers observe and report, and never promote (operators promote by hand). */
  readonly automatic: boolean;
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly confirmMs: number;
  readonly antiFlapSeconds: number;
}

/** An address of the edge that moves between load balancers: DNS names it. */
export interface VirtualAddress {
  readonly address: string;
  /** The load balancer that holds it whenever its HAProxy is healthy. */
  readonly owner: string;
  /** VRRP's virtual router id (1-255), unique among the load balancers' instances. */
  readonly routerId: number;
}

export interface VrrpSettings {
  /** In the order of their owners' names. */
  readonly virtualAddresses: readonly VirtualAddress[];
  readonly advertIntervalMs: number;
  readonly healthCheckIntervalMs: number;
  readonly rise: number;
  readonly preemptDelaySeconds: number;
}

export interface MonitoringSettings {
  readonly scrapeIntervalSeconds: number;
  readonly evaluationIntervalSeconds: number;
  readonly alertAfterSeconds: number;
  readonly rateWindowSeconds: number;
  readonly errorRatio: number;
  readonly minRequestsPerSecond: number;
  readonly latencyP99Seconds: number;
  readonly replicationLagSeconds: number;
  readonly diskFreeRatio: number;
  readonly refusedOutputMinutes: number;
  readonly certificateWarningDays: number;
  readonly certificateCriticalDays: number;
  readonly retentionHours: number;
}

export function hostsWithRole(model: Model, role: Role): Host[] {
  return model.hosts.filter((host) => host.roles.includes(role));
}

export function hasRole(host: Host, role: Role): boolean {
  return host.roles.includes(role);
}

export function findHost(model: Model, name: string): Host | undefined {
  return model.hosts.find((host) => host.name === name);
}

/** The host's address on a network it must be on (the validator guarantees it for its roles). */
export function addressOf(host: Host, network: NetworkName): string {
  const address = host.addresses[network];
  if (address === undefined)
    throw new Error(`${host.name} has no address on the ${network} network`);
  return address;
}

/** The addresses the site's names resolve to: the edge's virtual addresses, which VRRP moves. */
export function siteAddresses(model: Model): string[] {
  return model.vrrp.virtualAddresses.map((vip) => vip.address);
}
