/** The platform of a model: `platform:` in foobar.yaml (the lab by default). */
import type { Driver } from '../drivers/driver.ts';
import { sshDriverFor } from '../drivers/ssh.ts';
import type { Model } from '../model/model.ts';
import { labPlatform, netnsDriverFor } from './lab/index.ts';
import { labDirect } from './lab/direct.ts';
import { socketSql } from './lab/sql.ts';
import { machinesPlatform } from './machines/index.ts';
import type { Platform } from './platform.ts';

/**
 * `driver` replaces the platform's own (a recording driver for --dry-run and unit tests, the
 * planning driver of up --plan): then SQL goes through it too, as the mariadb client, and so
 * does every question the lab otherwise answers directly (platform/lab/direct.ts).
 */
export function platformFor(model: Model, driver?: Driver): Platform {
  if (model.platform.kind === 'machines') return machinesPlatform(driver ?? sshDriverFor(model));
  return driver === undefined
    ? { ...labPlatform(netnsDriverFor(model)), sql: socketSql(model), direct: labDirect }
    : labPlatform(driver);
}
