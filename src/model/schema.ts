/**
 * The shape of foobar.yaml, one per platform (`platform:`). For the lab (the default) everything is
 * optional: what is left out comes from `defaults.ts`. For machines the hosts, their SSH
 * destinations and their addresses are given. Semantic checks that need the whole picture (unique
 * addresses, roles and networks) live in `build.ts`; both report every problem with its key path.
 */
import { z } from 'zod';
import { parseBlock, parseIPv4 } from './net.ts';

/** Where foobar runs the site: network namespaces on this machine, or Debian machines over SSH. */
export const PLATFORMS = ['lab', 'machines'] as const;
export type PlatformKind = (typeof PLATFORMS)[number];

export const ROLES = ['client', 'dns', 'lb', 'web', 'db', 'mon', 'backup'] as const;
export type Role = (typeof ROLES)[number];

export const NETWORKS = ['edge', 'core'] as const;
export type NetworkName = (typeof NETWORKS)[number];

/** Namespace and interface names derive from host names, so keep them short and plain. */
export const HOST_NAME = /^[a-z][a-z0-9-]{0,9}$/;

const port = z.int().min(1).max(65535);
const hostNumber = z.int().min(1, { error: 'expected a host number of 1 or more' });

const roles = z
  .array(z.enum(ROLES, { error: `expected one of ${ROLES.join(', ')}` }))
  .min(1, { error: 'a host needs at least one role' });

/** The lab's name (a prefix of its namespaces), or the name of a deployment on machines. */
const deploymentName = z.string().regex(/^[a-z][a-z0-9]{0,5}$/, {
  error: 'expected 1 to 6 lowercase letters or digits, starting with a letter',
});
const absolutePath = z.string().startsWith('/', { error: 'expected an absolute path' });

const hostSchema = z.strictObject({
  roles,
  edge: hostNumber.optional(),
  core: hostNumber.optional(),
});
export type HostConfig = z.infer<typeof hostSchema>;

const networkSchema = z.strictObject({ subnet: z.string() });

/** An address given as it is (on machines), rather than a host number within a subnet. */
const address = z.string().refine((text) => parseIPv4(text) !== undefined, {
  error: 'expected an IPv4 address like 203.0.113.11',
});

/**
 * A host name or address for ssh. Never starting with "-" (ssh would read an option): a DNS name,
 * an alias of your ~/.ssh/config, an IPv4 address or an IPv6 one.
 */
export const SSH_HOST = /^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)$/;
/** A POSIX login name (Debian's useradd rule, without the trailing "$"). */
export const SSH_USER = /^[a-z_][a-z0-9_-]{0,31}$/;

const sshUser = z.string().regex(SSH_USER, {
  error: 'expected a login name like root or deploy (lowercase letters, digits, _ and -)',
});

/** Key, jump host and anything else come from your SSH config and agent, as with `ssh` itself. */
const sshDestinationSchema = z.strictObject(
  {
    host: z.string().regex(SSH_HOST, {
      error:
        'expected a host name, an alias of your SSH config or an address (not starting with -)',
    }),
    user: sshUser.optional(),
    port: port.optional(),
  },
  { error: 'expected the SSH destination, e.g. {host: 203.0.113.11, user: root}' },
);
export type SshDestinationConfig = z.infer<typeof sshDestinationSchema>;

const machineSchema = z.strictObject({
  roles,
  ssh: sshDestinationSchema,
  edge: address.optional(),
  core: address.optional(),
});
export type MachineConfig = z.infer<typeof machineSchema>;

export const PORT_NAMES = [
  'http',
  'https',
  'dns',
  'app',
  'appGreen',
  'lbStats',
  'mysql',
  'nodeExporter',
  'nginxExporter',
  'mysqldExporter',
  'appMetrics',
  'blackboxExporter',
  'prometheus',
  'alertmanager',
  'dashboard',
  'etcdClient',
  'etcdPeer',
  'failoverMetrics',
  'backupStream',
  'backupMetrics',
  'ssh',
] as const;
export type PortName = (typeof PORT_NAMES)[number];

/** How the load balancers hand the edge's virtual addresses over, on either platform. */
const vrrpSettings = {
  advertIntervalMs: z
    .int()
    .min(50)
    .max(10_000)
    .multipleOf(10, { error: 'expected a multiple of 10 (VRRPv3 counts in centiseconds)' })
    .optional(),
  healthCheckIntervalMs: z.int().min(50).max(1000).optional(),
  rise: z.int().min(1).max(10).optional(),
  preemptDelaySeconds: z.int().min(0).max(1000).optional(),
};

/** The keys both platforms share: the site itself, its ports and its tunables. */
const sharedShape = {
  domain: z
    .string()
    .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, {
      error: 'expected a domain like foobar.com',
    })
    .optional(),
  ports: z
    .strictObject(Object.fromEntries(PORT_NAMES.map((name) => [name, port.optional()])))
    .optional(),
  database: z
    .strictObject({
      primary: z.string().optional(),
      semiSyncTimeoutMs: z.int().min(100).max(600_000).optional(),
      heartbeatMs: z.int().min(100).max(10_000).optional(),
      readYourWritesWaitMs: z.int().min(0).max(10_000).optional(),
      // InnoDB's buffer pool in MB (MariaDB's minimum is 2).
      bufferPoolMb: z.int().min(2).max(1_048_576).optional(),
    })
    .optional(),
  lb: z
    .strictObject({
      checkIntervalMs: z.int().min(100).max(60000).optional(),
      fall: z.int().min(1).max(10).optional(),
      rise: z.int().min(1).max(10).optional(),
      retries: z.int().min(0).max(10).optional(),
    })
    .optional(),
  dns: z
    .strictObject({
      ttlSeconds: z.int().min(1).max(86400).optional(),
    })
    .optional(),
  tls: z
    .strictObject({
      hstsMaxAgeSeconds: z.int().min(0).max(63072000).optional(),
      // The site's certificate from an ACME CA (HTTP-01 through the load balancers) instead of the
      // lab's own CA.
      acme: z
        .strictObject({
          directory: z.url({
            protocol: /^https$/,
            error: 'expected the https URL of an ACME directory',
          }),
          email: z.email({ error: 'expected an email address' }).optional(),
          // The authorities of the directory's own HTTPS, when not this machine's (a test CA).
          caBundle: absolutePath.optional(),
          // The roots the issued certificates chain to, for foobar's probes and the monitor
          // (default: this machine's system store).
          roots: absolutePath.optional(),
          // Renew this long before expiry (default: with a third of the lifetime left).
          renewBeforeSeconds: z.int().min(60).max(31536000).optional(),
        })
        .optional(),
    })
    .optional(),
  limits: z
    .strictObject({
      requestTimeoutSeconds: z.int().min(1).max(300).optional(),
      maxBodyBytes: z.int().min(1024).max(1073741824).optional(),
      maxUrlBytes: z.int().min(256).max(12288).optional(),
      maxHeaders: z.int().min(16).max(1000).optional(),
      rateLimit: z
        .strictObject({
          requests: z.int().min(1).max(1000000).optional(),
          periodSeconds: z.int().min(1).max(3600).optional(),
          exempt: z.array(z.string()).optional(),
        })
        .optional(),
    })
    .optional(),
  app: z
    .strictObject({
      keepAliveTimeoutSeconds: z.int().min(1).max(3600).optional(),
    })
    .optional(),
  web: z
    .strictObject({
      upstreamKeepaliveSeconds: z.int().min(1).max(3600).optional(),
    })
    .optional(),
  failover: z
    .strictObject({
      automatic: z.boolean().optional(),
      probeIntervalMs: z.int().min(50).max(10_000).optional(),
      probeTimeoutMs: z.int().min(50).max(10_000).optional(),
      confirmMs: z.int().min(0).max(60_000).optional(),
      antiFlapSeconds: z.int().min(0).max(86_400).optional(),
    })
    .optional(),
  backup: z
    .strictObject({
      fullIntervalMinutes: z
        .int()
        .min(1)
        .max(7 * 24 * 60)
        .optional(),
      binlogFlushSeconds: z.int().min(1).max(86_400).optional(),
      keepDaily: z.int().min(1).max(366).optional(),
      keepWeekly: z.int().min(0).max(520).optional(),
      fullMaxAgeMinutes: z
        .int()
        .min(1)
        .max(30 * 24 * 60)
        .optional(),
      binlogMaxAgeSeconds: z.int().min(1).max(86_400).optional(),
    })
    .optional(),
  logs: z
    .strictObject({
      maxMegabytesPerHost: z.int().min(5).max(100_000).optional(),
      rotateHours: z
        .int()
        .min(1)
        .max(31 * 24)
        .optional(),
      keepDays: z.int().min(1).max(366).optional(),
    })
    .optional(),
  monitoring: z
    .strictObject({
      scrapeIntervalSeconds: z.int().min(1).max(300).optional(),
      evaluationIntervalSeconds: z.int().min(1).max(300).optional(),
      alertAfterSeconds: z.int().min(0).max(3600).optional(),
      rateWindowSeconds: z.int().min(4).max(3600).optional(),
      errorRatio: z.number().gt(0).lt(1).optional(),
      minRequestsPerSecond: z.number().min(0).max(1_000_000).optional(),
      latencyP99Seconds: z.number().gt(0).max(60).optional(),
      replicationLagSeconds: z.int().min(1).max(86_400).optional(),
      diskFreeRatio: z.number().gt(0).lt(1).optional(),
      refusedOutputMinutes: z.int().min(2).max(1440).optional(),
      certificateWarningDays: z.int().min(1).max(365).optional(),
      certificateCriticalDays: z.int().min(1).max(365).optional(),
      retentionHours: z
        .int()
        .min(1)
        .max(24 * 365)
        .optional(),
    })
    .optional(),
};

const { domain, ports, database, lb, ...afterVrrp } = sharedShape;

/** foobar.yaml for the lab: overrides of the default lab (`defaults.ts`). Keys in their old order. */
export const configSchema = z.strictObject({
  platform: z
    .literal('lab', { error: `expected one of ${PLATFORMS.join(', ')} (lab is the default)` })
    .optional(),
  lab: z
    .strictObject({
      name: deploymentName.optional(),
      stateDir: absolutePath.optional(),
    })
    .optional(),
  domain,
  networks: z
    .strictObject({ edge: networkSchema.optional(), core: networkSchema.optional() })
    .optional(),
  admin: z.strictObject({ edge: hostNumber }).optional(),
  hosts: z
    .record(
      z.string().regex(HOST_NAME, {
        error: 'host names are 1 to 10 lowercase letters, digits or dashes, starting with a letter',
      }),
      hostSchema.nullable(),
    )
    .optional(),
  ports,
  database,
  lb,
  vrrp: z
    .strictObject({
      // Load balancer name → host number on the edge of the address it normally holds; null removes one.
      virtualAddresses: z.record(z.string(), hostNumber.nullable()).optional(),
      ...vrrpSettings,
    })
    .optional(),
  ...afterVrrp,
});
export type Config = z.infer<typeof configSchema>;

const givenNetwork = z.strictObject(
  { subnet: z.string() },
  { error: 'expected the subnet your machines share on this network, e.g. {subnet: 10.0.0.0/24}' },
);

/** An IPv4 address, or a block of them (`a.b.c.d/n`, n from 8 to 32, no host bits set). */
const addressOrBlock = z.string().superRefine((text, ctx) => {
  const problem = parseBlock(text);
  if (typeof problem === 'string') ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * What every machine reaches outside the site for itself: its firewall lets nothing else out, so
 * each is named, never read from the machines (the README's "Real servers" says what to put).
 */
const outside = (what: string, example: string) =>
  z.array(addressOrBlock, {
    error: `expected ${what} as a list of addresses or blocks, e.g. [${example}] ([] for none: the machines' firewalls then refuse it)`,
  });

/** foobar.yaml for real machines: every host, its SSH destination and its addresses are given. */
export const machinesConfigSchema = z.strictObject({
  platform: z.literal('machines'),
  machines: z.strictObject(
    {
      // Names this deployment in foobar's own state (state directory, CA, Prometheus label).
      name: deploymentName.optional(),
      stateDir: absolutePath.optional(),
      // An ssh_config to read instead of ~/.ssh/config (ssh -F).
      sshConfig: absolutePath.optional(),
      // Defaults for every host's ssh user and port.
      ssh: z.strictObject({ user: sshUser.optional(), port: port.optional() }).optional(),
      // The name servers of the machines' /etc/resolv.conf: DNS (53, UDP and TCP), always open.
      resolvers: outside("the name servers of the machines' /etc/resolv.conf", '185.12.64.1'),
      // The NTP servers the machines' clocks follow (systemd-timesyncd's NTP=): 123/udp, always.
      timeServers: outside("the NTP servers the machines' clocks follow", '185.12.64.3'),
      // The package mirror of /etc/apt/sources.list: 80 and 443/tcp, only while up installs.
      mirrors: outside('the package mirror apt-get downloads from', '151.101.2.132/32'),
    },
    {
      error:
        'expected {resolvers: [...], timeServers: [...], mirrors: [...]}: what every machine reaches outside the site for itself (its firewall refuses the rest)',
    },
  ),
  networks: z.strictObject(
    { edge: givenNetwork, core: givenNetwork },
    { error: 'expected the subnets of both networks: {edge: {subnet: ...}, core: {subnet: ...}}' },
  ),
  admin: z.strictObject(
    { edge: address, core: address.optional() },
    {
      error:
        'expected the addresses your SSH and browser come from: {edge: 198.51.100.7, core: 10.0.0.11} (core: where SSH to the machines without an edge address arrives from)',
    },
  ),
  hosts: z.record(
    z.string().regex(HOST_NAME, {
      error: 'host names are 1 to 10 lowercase letters, digits or dashes, starting with a letter',
    }),
    machineSchema,
    { error: 'expected every machine by name: {lb-01: {roles: [lb], ssh: {host: ...}, ...}}' },
  ),
  vrrp: z.strictObject(
    {
      // Load balancer name → the edge address it normally holds.
      virtualAddresses: z.record(z.string(), address),
      ...vrrpSettings,
    },
    {
      error:
        'expected the virtual addresses of the load balancers: {virtualAddresses: {lb-01: ...}}',
    },
  ),
  ...sharedShape,
});
export type MachinesConfig = z.infer<typeof machinesConfigSchema>;
