/** The unprivileged user the app runs as (created by scripts/bootstrap.sh). */
export const APP_USER = 'foobar';

/**
 * Where things live: the platform's layout. In the lab every host gets a directory under the lab's
 * state directory on this machine; on machines the same names map to Debian's places (/etc/foobar,
 * /var/log/foobar, /var/lib/foobar, ...). The state directory (secrets, builds, the CA) is on this
 * machine on both.
 */
import path from 'node:path';
import type { Model } from './model.ts';

export interface HostPaths {
  readonly root: string;
  /** Rendered configuration files. */
  readonly etc: string;
  readonly log: string;
  /** Pid files, sockets, temp files: gone after `foobar down`. */
  readonly run: string;
  /** Data that outlives a restart (database files). */
  readonly data: string;
  /** Application releases on a web server, one directory per release id. */
  readonly releases: string;
  /** Symlink to the live release. */
  readonly current: string;
}

export interface LabPaths {
  readonly state: string;
  /** Generated passwords and keys, 0700 directory, 0600 files. */
  readonly secrets: string;
  /** Releases built on this machine, before they are copied to the web servers. */
  readonly builds: string;
  /** Held by the command that changes the lab (up, down, deploy). */
  readonly lock: string;
  readonly hosts: string;
  /** The lab's Node.js for the app, copied here so its unprivileged user can run it (runtimeOf). */
  readonly runtime: string;
  /** The lab's certificate authority (public): what browsers and curl are told to trust. */
  readonly caCertificate: string;
  /** The site's certificate (public), signed by the lab's CA. Its key is a secret. */
  readonly siteCertificate: string;
  /** The site's certificate chain from the ACME CA (`tls.acme`), for the same key. */
  readonly acmeCertificate: string;
  /**
   * What clients of foobar's own (probes, the monitor, the tests' visitors) trust for the site:
   * the lab's CA, and with `tls.acme` the roots of the ACME CA's certificates.
   */
  readonly siteTrust: string;
}

export function labPaths(model: Model): LabPaths {
  const state = model.lab.stateDir;
  return {
    state,
    secrets: path.join(state, 'secrets'),
    builds: path.join(state, 'builds'),
    lock: path.join(state, 'lock'),
    hosts: path.join(state, 'hosts'),
    runtime: path.join(state, 'runtime', 'node'),
    caCertificate: path.join(state, 'tls', 'ca.crt'),
    siteCertificate: path.join(state, 'tls', 'site.crt'),
    acmeCertificate: path.join(state, 'tls', 'acme', 'site.crt'),
    siteTrust: path.join(state, 'tls', 'trust.pem'),
  };
}

/** Where foobar's files live on a machine: the same on every one. */
export const MACHINE_PATHS: HostPaths = {
  root: '/srv/foobar',
  etc: '/etc/foobar',
  log: '/var/log/foobar',
  run: '/run/foobar',
  data: '/var/lib/foobar',
  releases: '/srv/foobar/releases',
  current: '/srv/foobar/current',
};

/** The Node.js the app and the dashboard run on: a copy of this checkout's, where hosts see it. */
export function runtimeOf(model: Model): string {
  return model.platform.kind === 'machines'
    ? '/usr/local/lib/foobar/node'
    : labPaths(model).runtime;
}

export function hostPaths(model: Model, host: string): HostPaths {
  if (model.platform.kind === 'machines') return MACHINE_PATHS;
  const root = path.join(labPaths(model).hosts, host);
  const releases = path.join(root, 'releases');
  return {
    root,
    etc: path.join(root, 'etc'),
    log: path.join(root, 'log'),
    run: path.join(root, 'run'),
    data: path.join(root, 'data'),
    releases,
    current: path.join(root, 'current'),
  };
}

/** foobar's own directory on a machine (its lock and audit log). */
export const MACHINE_STATE_DIR = '/var/lib/foobar';

/**
 * Where the lock and the audit log live: on the servers, so that every operator's foobar, from
 * whichever laptop, meets the same ones (as Kamal keeps them on its primary host). In the lab that
 * is this machine, which holds every host's files; on machines one designated server: the
 * monitor, else the first machine by name. `host` null is this machine.
 */
export interface SharedState {
  readonly host: string | null;
  /** A directory: taken by creating it atomically, the holder described inside. */
  readonly lock: string;
  readonly audit: string;
  /**
   * Who is the primary (database.json): read and written by every operator's foobar and by the
   * failover managers, so it lives beside the lock.
   */
  readonly database: string;
}

export function sharedState(model: Model): SharedState {
  if (model.platform.kind !== 'machines') {
    const state = labPaths(model).state;
    return {
      host: null,
      lock: labPaths(model).lock,
      audit: path.join(state, 'audit.log'),
      database: path.join(state, 'database.json'),
    };
  }
  const host = model.hosts.find((h) => h.roles.includes('mon')) ?? model.hosts[0];
  if (host === undefined) throw new Error('a deployment without machines has no lock');
  return {
    host: host.name,
    lock: path.join(MACHINE_STATE_DIR, 'lock'),
    audit: path.join(MACHINE_STATE_DIR, 'audit.log'),
    database: path.join(MACHINE_STATE_DIR, 'database.json'),
  };
}

/**
 * The model as one of foobar's daemons on a machine sees it: its own state directory (what it
 * acts with: a key, pinned host keys, passwords) standing for the operator's.
 */
export function withStateDir(model: Model, stateDir: string): Model {
  return { ...model, lab: { ...model.lab, stateDir } };
}
