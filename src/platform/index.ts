/** The platform of a model: `platform:` in foobar.yaml (the lab by default). */
import type { Driver } from '../drivers/driver.ts';
import { sshDriverFor } from '../drivers/ssh.ts';
import type { Model } from '../model/model.ts';
import { labPlatform, netnsDriverFor } from './lab/index.ts';
import { machinesPlatform } from './machines/index.ts';
import type { Platform } from './platform.ts';

/** `driver` replaces the platform's own (a recording driver for --dry-run and unit tests). */
export function platformFor(model: Model, driver?: Driver): Platform {
  return model.platform.kind === 'machines'
    ? machinesPlatform(driver ?? sshDriverFor(model))
    : labPlatform(driver ?? netnsDriverFor(model));
}
