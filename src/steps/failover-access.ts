/**
 * On machines the failover managers act on other hosts over SSH, with a key pair of their own
 * (docs/decisions.md): generated on this machine (a secret, 0600), its private half on the
 * failover members only (0600), authorized for root on the hosts a manager acts on from the
 * members' core addresses only and `restrict`ed (no forwarding, agent or terminal), and those
 * hosts' keys pinned on the members (the ones this machine pinned, copied). A manager's state
 * directory holds that, the database passwords and the CA's certificate it acts with.
 */
import path from 'node:path';
import { sshKeygen } from '../commands/ssh-keygen.ts';
import { DB_USERS, dbSecretName, type DbUser } from '../model/database.ts';
import {
  failoverMembers,
  managedHosts,
  managerModel,
  MANAGER_SSH_COMMENT,
  MANAGER_SSH_KEY_SECRET,
  MANAGER_STATE_DIR,
} from '../model/failover.ts';
import { labPaths } from '../model/layout.ts';
import { addressOf, type Host } from '../model/model.ts';
import type { Context } from './context.ts';
import { writeFiles, type RenderedFile } from './daemon.ts';

/** Where root's keys are on the hosts a manager acts on. */
const AUTHORIZED_KEYS = '/root/.ssh/authorized_keys';

/** The managers' files on a member: their SSH client's, under their own state directory. */
export function managerSshFiles(): { key: string; config: string; knownHosts: string } {
  const dir = path.join(MANAGER_STATE_DIR, 'ssh');
  return {
    key: path.join(dir, 'id_ed25519'),
    config: path.join(dir, 'config'),
    knownHosts: path.join(dir, 'known_hosts'),
  };
}

/** The managers' private key (generated once) and its public half, on this machine. */
async function managerKey(ctx: Context): Promise<{ privateKey: string; publicKey: string }> {
  const file = ctx.secrets.pathOf(MANAGER_SSH_KEY_SECRET);
  if ((await ctx.secrets.peek(MANAGER_SSH_KEY_SECRET)) === undefined) {
    const fresh = `${file}.new`;
    await ctx.driver.mkdir(null, path.dirname(file), 0o700);
    await ctx.driver.remove(null, fresh);
    await ctx.driver.remove(null, `${fresh}.pub`);
    await ctx.driver.exec(null, sshKeygen.generate(fresh, MANAGER_SSH_COMMENT));
    const generated = await ctx.driver.readFile(null, fresh);
    if (generated === undefined) throw new Error(`ssh-keygen wrote no key to ${fresh}`);
    await ctx.secrets.set(MANAGER_SSH_KEY_SECRET, generated.trimEnd());
    await ctx.driver.remove(null, fresh);
    await ctx.driver.remove(null, `${fresh}.pub`);
  }
  const privateKey = `${await ctx.secrets.get(MANAGER_SSH_KEY_SECRET)}\n`;
  const publicKey = (await ctx.driver.exec(null, sshKeygen.publicOf(file))).stdout.trim();
  return { privateKey, publicKey };
}

/** The managers' line in authorized_keys: their key, from the members' core addresses only. */
export function authorizedLine(ctx: Context, publicKey: string): string {
  const from = failoverMembers(ctx.model)
    .map((m) => addressOf(m, 'core'))
    .join(',');
  return `from="${from}",restrict ${publicKey} ${MANAGER_SSH_COMMENT}`;
}

/** Root's authorized_keys on `host` with the managers' line (and no older one of theirs). */
async function authorize(ctx: Context, host: Host, line: string): Promise<boolean> {
  const current = (await ctx.driver.readFile(host.name, AUTHORIZED_KEYS)) ?? '';
  const kept = current.split('\n').filter((l) => l.trim() !== '' && !isManagersLine(l));
  const wanted = `${[...kept, line].join('\n')}\n`;
  if (wanted === current) return false;
  await ctx.driver.mkdir(host.name, path.dirname(AUTHORIZED_KEYS), 0o700);
  await ctx.driver.writeFile(host.name, AUTHORIZED_KEYS, wanted, 0o600);
  return true;
}

/** The host keys this machine pinned for the hosts a manager acts on (by host name). */
async function pinnedKeys(ctx: Context): Promise<string> {
  const names = new Set(managedHosts(ctx.model).map((h) => h.name));
  const file = path.join(ctx.model.lab.stateDir, 'ssh', 'known_hosts');
  const lines = ((await ctx.driver.readFile(null, file)) ?? '')
    .split('\n')
    .filter((line) => names.has(line.split(' ')[0] ?? ''));
  const missing = [...names].filter((name) => !lines.some((l) => l.startsWith(`${name} `)));
  if (missing.length > 0)
    throw new Error(
      `${file} pins no host key for ${missing.join(', ')}: the managers could not check them (run foobar up again once they answer)`,
    );
  return `${lines.sort().join('\n')}\n`;
}

/** What a member's manager acts with, as files under its state directory. */
async function memberFiles(
  ctx: Context,
  privateKey: string,
  knownHosts: string,
): Promise<RenderedFile[]> {
  const ssh = managerSshFiles();
  const theirs = labPaths(managerModel(ctx.model));
  const ca = (await ctx.driver.readFile(null, labPaths(ctx.model).caCertificate)) ?? '';
  return [
    { path: ssh.key, content: privateKey, mode: 0o600 },
    {
      path: ssh.config,
      content: `# foobar's failover managers: their own key only.\nHost *\n  IdentityFile ${ssh.key}\n  IdentitiesOnly yes\n`,
      mode: 0o644,
    },
    { path: ssh.knownHosts, content: knownHosts, mode: 0o644 },
    { path: theirs.caCertificate, content: ca, mode: 0o644 },
    ...(await secretFiles(ctx)),
  ];
}

/** The members' copies of the database passwords this site has (no db-backup without a backup host). */
async function secretFiles(ctx: Context): Promise<RenderedFile[]> {
  const theirs = labPaths(managerModel(ctx.model));
  const files = await Promise.all(
    (Object.keys(DB_USERS) as DbUser[]).map(async (user): Promise<RenderedFile[]> => {
      const name = dbSecretName(user);
      const value = await ctx.secrets.peek(name);
      return value === undefined
        ? []
        : [{ path: path.join(theirs.secrets, name), content: `${value}\n`, mode: 0o600 }];
    }),
  );
  return files.flat();
}

/** Writes `files` on every member, their directories first (0700); how many members changed. */
async function installOnMembers(ctx: Context, files: readonly RenderedFile[]): Promise<number> {
  const changed = await Promise.all(
    failoverMembers(ctx.model).map(async (member) => {
      await ctx.driver.mkdirs(
        member.name,
        [...new Set(files.map((f) => path.dirname(f.path)))],
        0o700,
      );
      return writeFiles(ctx, member.name, files);
    }),
  );
  return changed.filter(Boolean).length;
}

/**
 * The managers' SSH access on machines: their key authorized on every host they act on, and on
 * every member the key, the pinned host keys and the secrets. Says what changed.
 */
export async function ensureManagerAccess(ctx: Context): Promise<string> {
  const { privateKey, publicKey } = await managerKey(ctx);
  const line = authorizedLine(ctx, publicKey);
  const knownHosts = await pinnedKeys(ctx);
  const files = await memberFiles(ctx, privateKey, knownHosts);
  const [authorized, installed] = await Promise.all([
    Promise.all(managedHosts(ctx.model).map((host) => authorize(ctx, host, line))),
    installOnMembers(ctx, files),
  ]);
  const changes = [
    ...(authorized.some(Boolean)
      ? [`key authorized on ${authorized.filter(Boolean).length} hosts`]
      : []),
    ...(installed > 0 ? [`installed on ${installed} members`] : []),
  ];
  return changes.length === 0 ? 'up to date' : changes.join(', ');
}

/**
 * After `foobar secrets rotate` set a new database password (while the old one is still
 * accepted): on machines the managers' copies on the members, which they log in with, are
 * replaced; in the lab they read this machine's. Undefined when there is nothing to do.
 */
export async function refreshManagerSecrets(ctx: Context): Promise<string | undefined> {
  if (ctx.platform.kind !== 'machines' || failoverMembers(ctx.model).length === 0) return undefined;
  const changed = await installOnMembers(ctx, await secretFiles(ctx));
  return `the failover managers' copies replaced on ${changed} of ${failoverMembers(ctx.model).length} members`;
}

/**
 * `foobar down` on machines, once the managers have stopped: their key is no longer authorized
 * anywhere (every other line of root's authorized_keys kept) and their state directory (key,
 * pinned host keys, passwords, CA) is deleted from the members. The key pair stays on this
 * machine, as every secret does; a later `up` installs it again.
 */
export async function revokeManagerAccess(ctx: Context): Promise<string> {
  const revoked = await Promise.all(
    managedHosts(ctx.model).map(async (host) => {
      const current = await ctx.driver.readFile(host.name, AUTHORIZED_KEYS);
      if (current === undefined) return false;
      const kept = current.split('\n').filter((l) => !isManagersLine(l));
      if (kept.length === current.split('\n').length) return false;
      await ctx.driver.writeFile(host.name, AUTHORIZED_KEYS, kept.join('\n'), 0o600);
      return true;
    }),
  );
  await Promise.all(
    failoverMembers(ctx.model).map((member) => ctx.driver.remove(member.name, MANAGER_STATE_DIR)),
  );
  const count = revoked.filter(Boolean).length;
  return `key revoked on ${count} hosts, ${MANAGER_STATE_DIR} deleted on ${failoverMembers(ctx.model).length} members`;
}

function isManagersLine(line: string): boolean {
  return line.trimEnd().endsWith(` ${MANAGER_SSH_COMMENT}`);
}
