/**
 * For the SSH access tests (steps/ssh-access.ts): a site `up` has reached once, on simulated
 * machines: this machine pinned every host's key and has the CA, the daemons' keys and the given
 * passwords; every host's root has the operator's own line in authorized_keys.
 */
import path from 'node:path';
import { HostsDriver } from '../drivers/hosts-testing.ts';
import { dbSecretName, type DbUser } from '../model/database.ts';
import { labPaths } from '../model/layout.ts';
import type { Model } from '../model/model.ts';
import { createContext, type Context } from './context.ts';

export const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyForThisTest';
export const OPERATOR_LINE = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorsOwnKey operator@laptop';
export const AUTHORIZED_KEYS = '/root/.ssh/authorized_keys';

export async function accessSite(
  model: Model,
  keySecrets: readonly string[],
  users: readonly DbUser[],
): Promise<{ ctx: Context; driver: HostsDriver }> {
  const driver = new HostsDriver((_target, argv) =>
    argv[0] === 'ssh-keygen' && argv[1] === '-y'
      ? { stdout: `${PUBLIC_KEY}\n`, stderr: '', exitCode: 0 }
      : undefined,
  );
  const ctx = createContext(model, driver);
  for (const name of keySecrets)
    await ctx.secrets.set(name, `-----BEGIN OPENSSH PRIVATE KEY-----\n${name}`);
  for (const user of users) await ctx.secrets.set(dbSecretName(user), `${user}-password-1`);
  await driver.writeFile(null, labPaths(model).caCertificate, 'CA certificate\n');
  await driver.writeFile(
    null,
    path.join(model.lab.stateDir, 'ssh', 'known_hosts'),
    model.hosts.map((h) => `${h.name} ssh-ed25519 AAAAhostkeyof${h.name}\n`).join(''),
  );
  for (const host of model.hosts)
    await driver.writeFile(host.name, AUTHORIZED_KEYS, `${OPERATOR_LINE}\n`, 0o600);
  return { ctx, driver };
}
