/**
 * The shape of foobar.yaml. Everything is optional: what is left out comes from `defaults.ts`.
 * Semantic checks that need the whole picture (unique addresses, roles and networks) live in
 * `validate.ts`; both report every problem with its key path.
 */
import { z } from 'zod';

export const ROLES = ['client', 'dns', 'lb', 'web', 'db', 'mon'] as const;
export type Role = (typeof ROLES)[number];

export const NETWORKS = ['edge', 'core'] as const;
export type NetworkName = (typeof NETWORKS)[number];

/** Namespace and interface names derive from host names, so keep them short and plain. */
export const HOST_NAME = /^[a-z][a-z0-9-]{0,9}$/;

const port = z.int().min(1).max(65535);
const hostNumber = z.int().min(1, { error: 'expected a host number of 1 or more' });

const hostSchema = z.strictObject({
  roles: z
    .array(z.enum(ROLES, { error: `expected one of ${ROLES.join(', ')}` }))
    .min(1, { error: 'a host needs at least one role' }),
  edge: hostNumber.optional(),
  core: hostNumber.optional(),
});
export type HostConfig = z.infer<typeof hostSchema>;

const networkSchema = z.strictObject({ subnet: z.string() });

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
] as const;
export type PortName = (typeof PORT_NAMES)[number];

export const configSchema = z.strictObject({
  lab: z
    .strictObject({
      name: z
        .string()
        .regex(/^[a-z][a-z0-9]{0,5}$/, {
          error: 'expected 1 to 6 lowercase letters or digits, starting with a letter',
        })
        .optional(),
      stateDir: z.string().startsWith('/', { error: 'expected an absolute path' }).optional(),
    })
    .optional(),
  domain: z
    .string()
    .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, {
      error: 'expected a domain like foobar.com',
    })
    .optional(),
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
  ports: z
    .strictObject(Object.fromEntries(PORT_NAMES.map((name) => [name, port.optional()])))
    .optional(),
  database: z
    .strictObject({
      primary: z.string().optional(),
      semiSyncTimeoutMs: z.int().min(100).max(600_000).optional(),
      heartbeatMs: z.int().min(100).max(10_000).optional(),
      readYourWritesWaitMs: z.int().min(0).max(10_000).optional(),
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
  vrrp: z
    .strictObject({
      // Load balancer name → host number on the edge of the address it normally holds; null removes one.
      virtualAddresses: z.record(z.string(), hostNumber.nullable()).optional(),
      advertIntervalMs: z
        .int()
        .min(50)
        .max(10_000)
        .multipleOf(10, { error: 'expected a multiple of 10 (VRRPv3 counts in centiseconds)' })
        .optional(),
      healthCheckIntervalMs: z.int().min(50).max(1000).optional(),
      rise: z.int().min(1).max(10).optional(),
      preemptDelaySeconds: z.int().min(0).max(1000).optional(),
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
      certificateWarningDays: z.int().min(1).max(365).optional(),
      certificateCriticalDays: z.int().min(1).max(365).optional(),
      retentionHours: z
        .int()
        .min(1)
        .max(24 * 365)
        .optional(),
    })
    .optional(),
});
export type Config = z.infer<typeof configSchema>;
