/** What every step gets: the model, its platform (and the platform's driver), names. No globals. */
import type { Driver } from '../drivers/driver.ts';
import type { PlanRecorder } from '../drivers/planning.ts';
import { secretStore, type SecretStore } from '../lib/secrets.ts';
import { labNames, type LabNames } from '../model/lab.ts';
import { labPaths } from '../model/layout.ts';
import type { Model } from '../model/model.ts';
import { platformFor } from '../platform/index.ts';
import type { Platform } from '../platform/platform.ts';

export interface Context {
  readonly model: Model;
  /** Where the model runs: how hosts are reached, daemons supervised, hosts provisioned. */
  readonly platform: Platform;
  /** The platform's driver (or the one a test or --dry-run gave instead). */
  readonly driver: Driver;
  /** The lab's names for its own objects (namespaces, links); the lab platform reads them. */
  readonly names: LabNames;
  /** The Node.js that runs the app on the web servers (this one: Node 24 from node_modules). */
  readonly nodeBinary: string;
  /** Generated passwords and keys of this lab (0600 files under its state directory). */
  readonly secrets: SecretStore;
  /**
   * How SQL reaches a database server: by default the mariadb client on its host, through the
   * driver; the failover managers connect over the network instead (see failover/sql.ts), the
   * lab's commands to each server's socket (platform/lab/sql.ts).
   */
  readonly sql?: SqlTransport;
  /**
   * What this machine reads of the hosts without a process, when it can (the lab's own driver:
   * platform/lab/direct.ts); without it, the same questions go through the driver as commands.
   */
  readonly direct?: DirectAccess;
  /**
   * Set by `foobar up --plan`: the driver records changes instead of making them, and a step
   * tells it what it would do to a daemon here rather than doing it and waiting for the result.
   */
  readonly planning?: PlanRecorder;
  /**
   * Where this machine's builds of foobar's daemons go, if not the state directory's: `up
   * --dry-run` gives a scratch directory, so that it leaves no state behind.
   */
  readonly scratchBuilds?: string;
}

/** Runs a script of foobar's on a database server; every result set, in order. */
export interface SqlTransport {
  run(
    host: string,
    sql: string,
    timeoutMs?: number,
  ): Promise<Readonly<Record<string, string | null>>[][]>;
  /**
   * Undefined when the server answers on its socket, even before any account of ours exists;
   * otherwise why not (without it: mariadb-admin ping on the server, through the driver).
   */
  ping?(host: string): Promise<string | undefined>;
}

/** Questions this machine answers itself about the hosts (see `Context.direct`). */
export interface DirectAccess {
  /** The network namespaces that exist (what `ip netns list` lists). */
  namespaces(): Promise<Set<string>>;
  /** Sends `request` to a Unix socket and resolves to its whole answer (it closes after it). */
  ask(socket: string, request: string, timeoutMs: number): Promise<string>;
  /** Each file under `dir` but its manifest: its path relative to `dir` → its sha256. */
  checksumTree(dir: string): Promise<Record<string, string>>;
}

/** Without a driver, the platform's own: namespaces for the lab, SSH for machines. */
export function createContext(
  model: Model,
  driverOverride?: Driver,
  nodeBinary = process.execPath,
): Context {
  const platform = platformFor(model, driverOverride);
  const driver = platform.driver;
  return {
    model,
    platform,
    driver,
    names: labNames(model),
    nodeBinary,
    secrets: secretStore(driver, labPaths(model).secrets),
    ...(platform.sql === undefined ? {} : { sql: platform.sql }),
    ...(platform.direct === undefined ? {} : { direct: platform.direct }),
  };
}
