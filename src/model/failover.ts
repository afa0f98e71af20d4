/**
 * Facts about automatic failover that derive from the model: who runs a failover manager and an
 * etcd member (every lb and mon host, so the observers sit apart from the databases and from
 * each other), their URLs, and the keys they keep in etcd.
 */
import { sharedState, withStateDir } from './layout.ts';
import { addressOf, type Host, type Model } from './model.ts';
import type { Role } from './schema.ts';

/** The roles whose hosts run an etcd member and a failover manager. */
export const FAILOVER_ROLES: readonly Role[] = ['lb', 'mon'];

export function failoverMembers(model: Model): Host[] {
  return model.hosts.filter((host) => host.roles.some((role) => FAILOVER_ROLES.includes(role)));
}

export function isFailoverMember(host: Host): boolean {
  return host.roles.some((role) => FAILOVER_ROLES.includes(role));
}

/** How many members must agree: a strict majority, so two disjoint groups can never both act. */
export function quorumOf(count: number): number {
  return Math.floor(count / 2) + 1;
}

export function etcdPeerUrl(model: Model, host: Host): string {
  return `http://${addressOf(host, 'core')}:${model.ports.etcdPeer}`;
}

export function etcdClientUrl(model: Model, host: Host): string {
  return `http://${addressOf(host, 'core')}:${model.ports.etcdClient}`;
}

/** `--initial-cluster`: every member by name and peer URL. */
export function etcdInitialCluster(model: Model): string {
  return failoverMembers(model)
    .map((host) => `${host.name}=${etcdPeerUrl(model, host)}`)
    .join(',');
}

/** The keys of one lab in etcd (a real cluster could be shared by several sites). */
export function failoverKeys(model: Model): {
  readonly leader: string;
  readonly topology: string;
  readonly pause: string;
  readonly lastAutomatic: string;
  readonly rearmed: string;
  readonly observations: string;
  observation(manager: string): string;
} {
  const prefix = `/foobar/${model.lab.name}/failover/`;
  return {
    leader: `${prefix}leader`,
    topology: `${prefix}topology`,
    pause: `${prefix}pause`,
    lastAutomatic: `${prefix}last-automatic`,
    rearmed: `${prefix}rearmed`,
    observations: `${prefix}observations/`,
    observation: (manager) => `${prefix}observations/${manager}`,
  };
}

/** What a lab lock's holder lets happen meanwhile, for the managers to act (withLockOrLeave). */
export const AUTOMATIC_FAILOVER = 'automatic failover';

/**
 * On machines, what a manager acts on over SSH (with a key pair of its own, from its core
 * address): the database servers (fence, drain, promote), the web servers (their firewalls, the
 * apps' db.json), the load balancers (a web server a promotion could not reach is taken out of
 * their rotation); and the host that keeps the lock, the audit log and database.json (the
 * monitor, or without one the first machine: `managedHosts`).
 */
export const MANAGED_ROLES: readonly Role[] = ['db', 'web', 'lb'];

/** The hosts the managers act on: the servers, and the shared state's host (whatever its roles). */
export function managedHosts(model: Model): Host[] {
  const shared = sharedState(model).host;
  return model.hosts.filter(
    (host) => host.name === shared || host.roles.some((role) => MANAGED_ROLES.includes(role)),
  );
}

/**
 * On machines, a manager's own state directory: it stands for the operator's (`lab.stateDir`) in
 * the manager's model, holding what the manager acts with — its SSH key, the other hosts' pinned
 * host keys, the database passwords, the CA's certificate — and nothing else.
 */
export const MANAGER_STATE_DIR = '/var/lib/foobar/failover';
/** The managers' SSH key (private, OpenSSH format): a secret of the operator's state directory. */
export const MANAGER_SSH_KEY_SECRET = 'failover-ssh-key';
/** Marks the managers' line in a host's authorized_keys, so `up` replaces it and only it. */
export const MANAGER_SSH_COMMENT = 'foobar-failover-manager';

/** The model as a manager on a machine sees it: its own state directory for the operator's. */
export function managerModel(model: Model): Model {
  return withStateDir(model, MANAGER_STATE_DIR);
}
