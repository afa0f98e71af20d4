/** The default lab: DESIGN §3, the seed made concrete. foobar.yaml overrides any part of it. */
import type { HostConfig, PortName } from './schema.ts';

export const DEFAULT_LAB_NAME = 'fb';
export const DEFAULT_STATE_ROOT = '/var/lib/foobar';
export const DEFAULT_DOMAIN = 'foobar.com';

export const DEFAULT_SUBNETS = { edge: '10.77.1.0/24', core: '10.77.2.0/24' } as const;
/** This machine's own address on the edge: the admin's shell and browser. */
export const DEFAULT_ADMIN_EDGE = 1;

export const DEFAULT_HOSTS: Readonly<Record<string, HostConfig>> = {
  client: { roles: ['client'], edge: 100 },
  dns: { roles: ['dns'], edge: 53 },
  // A second authoritative server: one dead name server breaks no lookup.
  'dns-02': { roles: ['dns'], edge: 54 },
  'lb-01': { roles: ['lb'], edge: 11, core: 11 },
  'lb-02': { roles: ['lb'], edge: 12, core: 12 },
  'web-01': { roles: ['web'], core: 21 },
  'web-02': { roles: ['web'], core: 22 },
  'db-01': { roles: ['db'], core: 31 },
  'db-02': { roles: ['db'], core: 32 },
  mon: { roles: ['mon'], edge: 90, core: 90 },
  // Full backups from a replica and the primary's binary logs, off the database servers.
  backup: { roles: ['backup'], core: 40 },
};

export const DEFAULT_PORTS: Readonly<Record<PortName, number>> = {
  http: 80,
  https: 443,
  dns: 53,
  // The app runs in two slots (blue, green) so a deploy starts the new release beside the old one.
  app: 3000,
  appGreen: 3001,
  lbStats: 8404,
  mysql: 3306,
  nodeExporter: 9100,
  nginxExporter: 9113,
  mysqldExporter: 9104,
  // Nginx on each web server hands the app's /metrics to the monitor on this port only.
  appMetrics: 9180,
  // The monitor's prober (DNS answers, TLS certificates), on its loopback.
  blackboxExporter: 9115,
  prometheus: 9090,
  alertmanager: 9093,
  dashboard: 8080,
  // etcd on the failover members (every lb and mon host): clients, and its members among themselves.
  etcdClient: 2379,
  etcdPeer: 2380,
  // The failover manager's /metrics, scraped by the monitor.
  failoverMetrics: 9099,
  // A replica streams its full backup (mbstream) to the backup host on this port.
  backupStream: 9400,
  // The backup agent's /metrics (newest backup, archived binary log), scraped by the monitor.
  backupMetrics: 9401,
  // sshd on real machines (the lab has none): the admin's way in, a flow of the model.
  ssh: 22,
};

export const DEFAULT_LB = { checkIntervalMs: 500, fall: 2, rise: 2, retries: 3 } as const;
/** The app must keep idle connections open longer than Nginx does, or Nginx reuses dead ones. */
export const DEFAULT_APP = { keepAliveTimeoutSeconds: 75 } as const;
export const DEFAULT_WEB = { upstreamKeepaliveSeconds: 60 } as const;

/** A short TTL: when a load balancer's address changes, clients follow within half a minute. */
export const DEFAULT_DNS = { ttlSeconds: 30 } as const;
/**
 * The edge's virtual addresses (keepalived, VRRPv3, unicast between the load balancers): each is
 * normally held by the load balancer named here (host numbers on the edge), the other takes it
 * over when that one's HAProxy or host dies. DNS names these, never the load balancers' own.
 * Adverts every 200 ms: a silent holder is replaced after 3 of them plus a skew (~0.7 s). HAProxy's
 * health is asked every `healthCheckIntervalMs` (keepalived runs its check once a second, and the
 * check asks several times within it); an address goes back to its holder `preemptDelaySeconds`
 * after that one's HAProxy has been healthy for `rise` checks in a row.
 */
export const DEFAULT_VRRP = {
  virtualAddresses: { 'lb-01': 10, 'lb-02': 20 } as Readonly<Record<string, number>>,
  advertIntervalMs: 200,
  healthCheckIntervalMs: 100,
  rise: 2,
  preemptDelaySeconds: 2,
} as const;
/** Two years, as Mozilla's guidelines recommend. */
export const DEFAULT_TLS = { hstsMaxAgeSeconds: 63072000 } as const;
/**
 * What the load balancers accept from one client. The rate limit counts requests per client
 * address on each load balancer; hosts named in `exempt` (monitors, load generators) are not
 * counted. The lab's `client` is exempt by default: it is where drills and benchmarks send
 * thousands of visitors from, standing for many addresses (the test lab adds a `bot` that is
 * limited, to show the limit bite).
 */
export const DEFAULT_LIMITS = {
  requestTimeoutSeconds: 5,
  maxBodyBytes: 64 * 1024,
  maxUrlBytes: 8192,
  maxHeaders: 100,
  rateLimit: { requests: 200, periodSeconds: 10, exempt: ['client'] as readonly string[] },
} as const;
/**
 * The database tier. A commit waits at most `semiSyncTimeoutMs` for a replica's acknowledgement
 * before the primary falls back to asynchronous replication; replicas hear from the primary every
 * `heartbeatMs` even when nothing is written; a reader that just wrote waits at most
 * `readYourWritesWaitMs` for a replica to catch up before it reads from the primary instead.
 */
export const DEFAULT_DATABASE = {
  schema: 'foobar',
  semiSyncTimeoutMs: 1000,
  heartbeatMs: 250,
  readYourWritesWaitMs: 500,
} as const;

/**
 * InnoDB's buffer pool (MB) by platform: what a database server keeps of its tables in memory.
 * The lab's guestbook is a few MB of rows; a real server keeps the room a real site's tables need.
 */
export const DEFAULT_BUFFER_POOL_MB = { lab: 16, machines: 64 } as const;

/**
 * Monitoring, tuned for the lab: a failure shows on the dashboard within seconds and its alert
 * fires within about ten (real servers would scrape every 15 s and wait minutes before paging).
 */
export const DEFAULT_MONITORING = {
  scrapeIntervalSeconds: 2,
  evaluationIntervalSeconds: 2,
  /** How long a problem must last before its alert fires (Prometheus `for:`). */
  alertAfterSeconds: 4,
  /** The window of every rate and ratio (requests/s, error ratio, latency quantiles). */
  rateWindowSeconds: 20,
  /** Page when more than this share of requests fail with a 5xx. */
  errorRatio: 0.05,
  /** Below this traffic, error ratios and latency quantiles are too noisy to page on. */
  minRequestsPerSecond: 1,
  latencyP99Seconds: 0.5,
  replicationLagSeconds: 5,
  /** Page when a filesystem has less than this share free. */
  diskFreeRatio: 0.1,
  /**
   * Warn when a host's firewall has refused something it sent in every minute of this many: a
   * misconfigured or compromised process, or a flow missing from the model. A burst (a test, an
   * operator's try) is no alert.
   */
  refusedOutputMinutes: 10,
  certificateWarningDays: 20,
  certificateCriticalDays: 3,
  retentionHours: 24,
} as const;

/**
 * Automatic database failover (the failover managers on every lb and mon host, agreeing through
 * etcd). Each manager connects to the primary every `probeIntervalMs` and must get MariaDB's
 * greeting within `probeTimeoutMs`; the primary is dead once a majority of managers has failed to
 * for `confirmMs` and the replicas stopped hearing from it. After an automatic failover, none
 * other happens for `antiFlapSeconds`.
 */
export const DEFAULT_FAILOVER = {
  automatic: true,
  probeIntervalMs: 200,
  probeTimeoutMs: 400,
  confirmMs: 600,
  antiFlapSeconds: 300,
} as const;

/**
 * Every host's logs together stay under `maxMegabytesPerHost` (the live files and the rotated
 * ones): a live file is rotated when it reaches a fifth of that or is `rotateHours` old, rotated
 * files are kept `keepDays` at most, and the oldest go first when the host is over its cap. On
 * machines the daemons log to the journal, whose own limits (a drop-in) are set from the same.
 */
export const DEFAULT_LOGS = {
  maxMegabytesPerHost: 50,
  rotateHours: 24,
  keepDays: 7,
} as const;

/**
 * Backups (the backup host's agent). A full physical backup of a replica every
 * `fullIntervalMinutes`; the primary's binary log streamed to the backup host as it is written,
 * and its open file closed (FLUSH BINARY LOGS), compressed and encrypted at most
 * `binlogFlushSeconds` after its first event. Kept: the newest backup of each of the last
 * `keepDaily` days and of each of the last `keepWeekly` weeks, with the binary logs from the
 * oldest kept one on. The monitor alerts when the newest full backup is older than
 * `fullMaxAgeMinutes` or the archive has not had everything the primary wrote for
 * `binlogMaxAgeSeconds`.
 */
export const DEFAULT_BACKUP = {
  fullIntervalMinutes: 24 * 60,
  binlogFlushSeconds: 60,
  keepDaily: 7,
  keepWeekly: 4,
  fullMaxAgeMinutes: 26 * 60,
  binlogMaxAgeSeconds: 300,
} as const;
