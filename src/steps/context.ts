/** What every step gets: the model, a driver to reach hosts, and names. No globals. */
import type { Driver } from '../drivers/driver.ts';
import type { PlanRecorder } from '../drivers/planning.ts';
import { secretStore, type SecretStore } from '../lib/secrets.ts';
import { labNames, type LabNames } from '../model/lab.ts';
import { labPaths } from '../model/layout.ts';
import type { Model } from '../model/model.ts';

export interface Context {
  readonly model: Model;
  readonly driver: Driver;
  readonly names: LabNames;
  /** The Node.js that runs the app on the web servers (this one: Node 24 from node_modules). */
  readonly nodeBinary: string;
  /** Generated passwords and keys of this lab (0600 files under its state directory). */
  readonly secrets: SecretStore;
  /**
   * How SQL reaches a database server: by default the mariadb client on its host, through the
   * driver; the failover managers connect over the network instead (see failover/sql.ts).
   */
  readonly sql?: SqlTransport;
  /**
   * Set by `foobar up --plan`: the driver records changes instead of making them, and a step
   * tells it what it would do to a daemon here rather than doing it and waiting for the result.
   */
  readonly planning?: PlanRecorder;
}

/** Runs a script of foobar's on a database server; every result set, in order. */
export interface SqlTransport {
  run(
    host: string,
    sql: string,
    timeoutMs?: number,
  ): Promise<Readonly<Record<string, string | null>>[][]>;
}

export function createContext(
  model: Model,
  driver: Driver,
  nodeBinary = process.execPath,
): Context {
  return {
    model,
    driver,
    names: labNames(model),
    nodeBinary,
    secrets: secretStore(driver, labPaths(model).secrets),
  };
}
