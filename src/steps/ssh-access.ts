/**
 * On machines, foobar's own daemons that act on other hosts (the failover managers, the backup
 * agent) do it over SSH with a key pair of their own each (docs/decisions.md): generated on this
 * machine (a secret, 0600), its private half on the hosts that run the daemon only (0600),
 * authorized for root on the hosts it acts on from those hosts' core addresses only and
 * `restrict`ed (no forwarding, agent or terminal), and those hosts' keys pinned beside it (the
 * ones this machine pinned, copied). The daemon's state directory holds that, the database
 * passwords it logs in with and, if it needs it, the CA's certificate.
 */
import path from 'node:path';
import { sshKeygen } from '../commands/ssh-keygen.ts';
import type { Driver } from '../drivers/driver.ts';
import { NetnsDriver } from '../drivers/netns.ts';
import { SshDriver } from '../drivers/ssh.ts';
import { dbSecretName, type DbUser } from '../model/database.ts';
import { labNames } from '../model/lab.ts';
import { labPaths, withStateDir } from '../model/layout.ts';
import { addressOf, type Host, type Model } from '../model/model.ts';
import type { Context } from './context.ts';
import { writeFiles, type RenderedFile } from './daemon.ts';

/** One daemon's access: who holds the key, where it is authorized, what it is given. */
export interface SshAccess {
  /** Who acts, in messages and in its SSH config's comment ("foobar's failover managers"). */
  readonly who: string;
  /** What the hosts that hold the key are called in messages ("members"). */
  readonly holdersNoun: string;
  /** The hosts that run the daemon: the key is installed there, and authorized from them only. */
  readonly holders: (model: Model) => Host[];
  /** The hosts it acts on: root's authorized_keys there has its line. */
  readonly targets: (model: Model) => Host[];
  /** Its private key (OpenSSH format): a secret of the operator's state directory. */
  readonly keySecret: string;
  /** Marks its line in a host's authorized_keys, so `up` replaces it and only it. */
  readonly comment: string;
  /** Its state directory on the holders, standing for the operator's in its model. */
  readonly stateDir: string;
  /** The database accounts it logs in as (their passwords copied when the site has them). */
  readonly dbUsers: readonly DbUser[];
  /** Whether it needs the CA's certificate in its state directory. */
  readonly ca: boolean;
}

/** Where root's keys are on the hosts a daemon acts on. */
const AUTHORIZED_KEYS = '/root/.ssh/authorized_keys';

/** The daemon's SSH client's files on a holder, under its own state directory. */
export function sshFiles(access: SshAccess): { key: string; config: string; knownHosts: string } {
  const dir = path.join(access.stateDir, 'ssh');
  return {
    key: path.join(dir, 'id_ed25519'),
    config: path.join(dir, 'config'),
    knownHosts: path.join(dir, 'known_hosts'),
  };
}

/** The model as the daemon on a holder sees it: its own state directory for the operator's. */
export function accessModel(access: SshAccess, model: Model): Model {
  return withStateDir(model, access.stateDir);
}

/**
 * How the daemon acts on `hosts` (default: its targets): in the lab by entering their
 * namespaces, on machines over SSH to their core addresses as root, with its own key and the
 * pinned host keys.
 */
export function accessDriver(
  access: SshAccess,
  model: Model,
  hosts: readonly Host[] = access.targets(model),
): Driver {
  if (model.platform.kind !== 'machines') {
    const names = labNames(model);
    return new NetnsDriver((host) => names.namespaceOf(host));
  }
  return new SshDriver({
    destinations: Object.fromEntries(
      hosts.map((host) => [host.name, { host: addressOf(host, 'core'), user: 'root' }]),
    ),
    stateDir: access.stateDir,
    configFile: sshFiles(access).config,
  });
}

/** The daemon's private key (generated once) and its public half, on this machine. */
async function accessKey(
  ctx: Context,
  access: SshAccess,
): Promise<{ privateKey: string; publicKey: string }> {
  const file = ctx.secrets.pathOf(access.keySecret);
  if ((await ctx.secrets.peek(access.keySecret)) === undefined) {
    const fresh = `${file}.new`;
    await ctx.driver.mkdir(null, path.dirname(file), 0o700);
    await ctx.driver.remove(null, fresh);
    await ctx.driver.remove(null, `${fresh}.pub`);
    await ctx.driver.exec(null, sshKeygen.generate(fresh, access.comment));
    const generated = await ctx.driver.readFile(null, fresh);
    if (generated === undefined) throw new Error(`ssh-keygen wrote no key to ${fresh}`);
    await ctx.secrets.set(access.keySecret, generated.trimEnd());
    await ctx.driver.remove(null, fresh);
    await ctx.driver.remove(null, `${fresh}.pub`);
  }
  const privateKey = `${await ctx.secrets.get(access.keySecret)}\n`;
  const publicKey = (await ctx.driver.exec(null, sshKeygen.publicOf(file))).stdout.trim();
  return { privateKey, publicKey };
}

/** The daemon's line in authorized_keys: its key, from its holders' core addresses only. */
export function authorizedLine(ctx: Context, access: SshAccess, publicKey: string): string {
  const from = access
    .holders(ctx.model)
    .map((m) => addressOf(m, 'core'))
    .join(',');
  return `from="${from}",restrict ${publicKey} ${access.comment}`;
}

function isLineOf(access: SshAccess, line: string): boolean {
  return line.trimEnd().endsWith(` ${access.comment}`);
}

/**
 * Root's authorized_keys on `host` with the daemon's line where its older one was (or last), and
 * no other of its: another daemon's line keeps its place, so neither rewrites the file each `up`.
 */
async function authorize(
  ctx: Context,
  access: SshAccess,
  host: Host,
  line: string,
): Promise<boolean> {
  const current = (await ctx.driver.readFile(host.name, AUTHORIZED_KEYS)) ?? '';
  const lines = current.split('\n').filter((l) => l.trim() !== '');
  const at = lines.findIndex((l) => isLineOf(access, l));
  const kept = lines.filter((l) => !isLineOf(access, l));
  kept.splice(at < 0 ? kept.length : at, 0, line);
  const wanted = `${kept.join('\n')}\n`;
  if (wanted === current) return false;
  await ctx.driver.mkdir(host.name, path.dirname(AUTHORIZED_KEYS), 0o700);
  await ctx.driver.writeFile(host.name, AUTHORIZED_KEYS, wanted, 0o600);
  return true;
}

/** The host keys this machine pinned for the hosts the daemon acts on (by host name). */
async function pinnedKeys(ctx: Context, access: SshAccess): Promise<string> {
  const names = new Set(access.targets(ctx.model).map((h) => h.name));
  const file = path.join(ctx.model.lab.stateDir, 'ssh', 'known_hosts');
  const lines = ((await ctx.driver.readFile(null, file)) ?? '')
    .split('\n')
    .filter((line) => names.has(line.split(' ')[0] ?? ''));
  const missing = [...names].filter((name) => !lines.some((l) => l.startsWith(`${name} `)));
  if (missing.length > 0)
    throw new Error(
      `${file} pins no host key for ${missing.join(', ')}: ${access.who} could not check them (run foobar up again once they answer)`,
    );
  return `${lines.sort().join('\n')}\n`;
}

/** What the daemon on a holder acts with, as files under its state directory. */
async function holderFiles(
  ctx: Context,
  access: SshAccess,
  privateKey: string,
  knownHosts: string,
): Promise<RenderedFile[]> {
  const ssh = sshFiles(access);
  const theirs = labPaths(accessModel(access, ctx.model));
  const ca = access.ca
    ? [
        {
          path: theirs.caCertificate,
          content: (await ctx.driver.readFile(null, labPaths(ctx.model).caCertificate)) ?? '',
          mode: 0o644,
        },
      ]
    : [];
  return [
    { path: ssh.key, content: privateKey, mode: 0o600 },
    {
      path: ssh.config,
      content: `# foobar: ${access.who}, their own key only.\nHost *\n  IdentityFile ${ssh.key}\n  IdentitiesOnly yes\n`,
      mode: 0o644,
    },
    { path: ssh.knownHosts, content: knownHosts, mode: 0o644 },
    ...ca,
    ...(await secretFiles(ctx, access)),
  ];
}

/** The holders' copies of the database passwords the daemon logs in with and the site has. */
async function secretFiles(ctx: Context, access: SshAccess): Promise<RenderedFile[]> {
  const theirs = labPaths(accessModel(access, ctx.model));
  const files = await Promise.all(
    access.dbUsers.map(async (user): Promise<RenderedFile[]> => {
      const name = dbSecretName(user);
      const value = await ctx.secrets.peek(name);
      return value === undefined
        ? []
        : [{ path: path.join(theirs.secrets, name), content: `${value}\n`, mode: 0o600 }];
    }),
  );
  return files.flat();
}

/** Writes `files` on every holder, their directories first (0700); how many holders changed. */
async function installOnHolders(
  ctx: Context,
  access: SshAccess,
  files: readonly RenderedFile[],
): Promise<number> {
  const changed = await Promise.all(
    access.holders(ctx.model).map(async (holder) => {
      await ctx.driver.mkdirs(
        holder.name,
        [...new Set(files.map((f) => path.dirname(f.path)))],
        0o700,
      );
      return writeFiles(ctx, holder.name, files);
    }),
  );
  return changed.filter(Boolean).length;
}

/**
 * The daemon's SSH access on machines: its key authorized on every host it acts on, and on every
 * holder the key, the pinned host keys and the secrets. Says what changed.
 */
export async function ensureAccess(ctx: Context, access: SshAccess): Promise<string> {
  const { privateKey, publicKey } = await accessKey(ctx, access);
  const line = authorizedLine(ctx, access, publicKey);
  const knownHosts = await pinnedKeys(ctx, access);
  const files = await holderFiles(ctx, access, privateKey, knownHosts);
  const [authorized, installed] = await Promise.all([
    Promise.all(access.targets(ctx.model).map((host) => authorize(ctx, access, host, line))),
    installOnHolders(ctx, access, files),
  ]);
  const changes = [
    ...(authorized.some(Boolean)
      ? [`key authorized on ${authorized.filter(Boolean).length} hosts`]
      : []),
    ...(installed > 0 ? [`installed on ${installed} ${access.holdersNoun}`] : []),
  ];
  return changes.length === 0 ? 'up to date' : changes.join(', ');
}

/**
 * After `foobar secrets rotate` set a new database password (while the old one is still
 * accepted): on machines the holders' copies, which the daemon logs in with, are replaced; in the
 * lab it reads this machine's. Undefined when there is nothing to do.
 */
export async function refreshAccessSecrets(
  ctx: Context,
  access: SshAccess,
): Promise<string | undefined> {
  const holders = access.holders(ctx.model);
  if (ctx.platform.kind !== 'machines' || holders.length === 0) return undefined;
  const changed = await installOnHolders(ctx, access, await secretFiles(ctx, access));
  return `${access.who}: their copies replaced on ${changed} of ${holders.length} ${access.holdersNoun}`;
}

/**
 * `foobar down` on machines, once the daemon has stopped: its key is no longer authorized
 * anywhere (every other line of root's authorized_keys kept) and its state directory (key,
 * pinned host keys, passwords) is deleted from the holders. The key pair stays on this machine,
 * as every secret does; a later `up` installs it again.
 */
export async function revokeAccess(ctx: Context, access: SshAccess): Promise<string> {
  const revoked = await Promise.all(
    access.targets(ctx.model).map(async (host) => {
      const current = await ctx.driver.readFile(host.name, AUTHORIZED_KEYS);
      if (current === undefined) return false;
      const kept = current.split('\n').filter((l) => !isLineOf(access, l));
      if (kept.length === current.split('\n').length) return false;
      await ctx.driver.writeFile(host.name, AUTHORIZED_KEYS, kept.join('\n'), 0o600);
      return true;
    }),
  );
  const holders = access.holders(ctx.model);
  await Promise.all(holders.map((holder) => ctx.driver.remove(holder.name, access.stateDir)));
  const count = revoked.filter(Boolean).length;
  return `key revoked on ${count} hosts, ${access.stateDir} deleted on ${holders.length} ${access.holdersNoun}`;
}
