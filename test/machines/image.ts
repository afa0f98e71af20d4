/**
 * The machines' image, built once and cached: a debootstrap base (Debian 12 minbase with systemd
 * and sshd) and above it, as an overlay layer, the servers' packages. Each stage has a stamp
 * saying what it holds; a stage is rebuilt when its inputs change (a package added to the list
 * rebuilds the layer, not the base), and a half-built stage is never taken for a built one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Driver } from '../../src/drivers/driver.ts';
import { LockedError, withLock } from '../../src/lib/lock.ts';
import { sleep } from '../../src/lib/wait.ts';
import { machineCommands as cmd } from './commands.ts';
import { BASE_PACKAGES, SERVER_PACKAGES, SUITE } from './packages.ts';

export const IMAGE_CACHE = '/var/cache/foobar/machines';
/** Bumped when the way a stage is built changes, so caches built the old way are rebuilt. */
const RECIPE = 1;
/** How long a test waits for another's build of the image: a cold build took 4.1 min here. */
const BUILD_WAIT_MS = 30 * 60_000;
const APT_SOURCES_DIR = '/etc/apt/sources.list.d';
/** Debian's own archive key, in every debootstrap: sources signed by it are the Debian mirror. */
const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
/** Keeps Debian's maintainer scripts from starting daemons while the layer is built. */
const POLICY_RC_D = '#!/bin/sh\n# foobar: no service starts while the image is built\nexit 101\n';

export interface Image {
  readonly base: string;
  /** The packages layer: an overlay upper directory, used as a lower one above the base. */
  readonly layer: string;
  /** Topmost first, as overlayfs's lowerdir wants them. */
  readonly lowerDirs: readonly string[];
  readonly stages: readonly StageReport[];
}

export interface StageReport {
  readonly stage: 'base' | 'packages';
  readonly cached: boolean;
  readonly seconds: number;
  readonly bytes: number;
}

const Stamp = z.object({
  key: z.string(),
  recipe: z.number(),
  suite: z.string(),
  mirror: z.string(),
  packages: z.array(z.string()),
  builtAt: z.string(),
  buildSeconds: z.number(),
  bytes: z.number(),
});
type Stamp = z.infer<typeof Stamp>;

export interface ImageOptions {
  readonly driver: Driver;
  readonly cacheDir?: string;
  readonly say?: (line: string) => void;
}

/** Builds what is missing or stale, and says for each stage whether it came from the cache. */
export async function ensureImage(options: ImageOptions): Promise<Image> {
  const dir = options.cacheDir ?? IMAGE_CACHE;
  const say = options.say ?? (() => undefined);
  const sources = hostDebianSources();
  const base = path.join(dir, 'base');
  const layer = path.join(dir, 'packages');
  const keys = stageKeys({
    ...sources,
    basePackages: BASE_PACKAGES,
    serverPackages: SERVER_PACKAGES,
  });
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  const stages = await whenFree(say, () =>
    withLock(path.join(dir, 'build.lock'), 'machines image', async () => {
      const baseStage = await stage('base', base, keys.base, async (partial) => {
        await options.driver.exec(
          null,
          cmd.debootstrap(SUITE, partial, sources.mirror, BASE_PACKAGES),
        );
        await prepareBase(options.driver, partial, sources.text);
      });
      const layerStage = await stage('packages', layer, keys.layer, (partial) =>
        installLayer(options.driver, base, partial),
      );
      return [baseStage, layerStage];
    }),
  );
  return { base, layer, lowerDirs: [layer, base], stages };

  async function stage(
    name: StageReport['stage'],
    target: string,
    key: string,
    build: (partial: string) => Promise<void>,
  ): Promise<StageReport> {
    const stampFile = `${target}.json`;
    const stamp = readStamp(stampFile);
    if (stamp?.key === key && existsSync(target)) {
      say(`image: ${name}: cached (${stamp.builtAt}, ${mb(stamp.bytes)}) in ${target}`);
      return { stage: name, cached: true, seconds: 0, bytes: stamp.bytes };
    }
    refuseWhileInUse(dir);
    const started = Date.now();
    say(
      `image: ${name}: building in ${target} (${stamp === undefined ? 'none cached' : 'inputs changed'})`,
    );
    const partial = `${target}.partial`;
    await fs.rm(stampFile, { force: true });
    await fs.rm(partial, { recursive: true, force: true });
    await fs.mkdir(partial, { recursive: true });
    await build(partial);
    await fs.rm(target, { recursive: true, force: true });
    await fs.rename(partial, target);
    const bytes = await diskUsage(options.driver, target);
    const seconds = (Date.now() - started) / 1000;
    const done: Stamp = {
      key,
      recipe: RECIPE,
      suite: SUITE,
      mirror: sources.mirror,
      packages: [...(name === 'base' ? BASE_PACKAGES : SERVER_PACKAGES)],
      builtAt: new Date().toISOString(),
      buildSeconds: seconds,
      bytes,
    };
    await fs.writeFile(stampFile, `${JSON.stringify(done, null, 2)}\n`);
    say(`image: ${name}: built in ${seconds.toFixed(1)} s, ${mb(bytes)}`);
    return { stage: name, cached: false, seconds, bytes };
  }
}

/**
 * Runs `work` (which takes the build lock) once no other process holds the lock: the machines'
 * test files run two at a time, and on a new machine both want the image the first one builds.
 * Bounded: a holder past BUILD_WAIT_MS is a hung build, and its LockedError says who holds it.
 */
async function whenFree<T>(say: (line: string) => void, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + BUILD_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof LockedError) || Date.now() > deadline) throw error;
      if (!told) say(`image: pid ${error.holder.pid} is building it: waiting for that build`);
      told = true;
      await sleep(2000);
    }
  }
}

/** What every machine shares: Debian's sources, networkd for its address, no identity of its own. */
async function prepareBase(driver: Driver, root: string, sources: string): Promise<void> {
  await fs.rm(path.join(root, 'etc/apt/sources.list'), { force: true });
  await fs.writeFile(path.join(root, 'etc/apt/sources.list.d/debian.sources'), sources);
  await driver.exec(null, { argv: ['systemctl', `--root=${root}`, 'enable', 'systemd-networkd'] });
  // Each machine gets its own machine-id and SSH host keys when it is created.
  await fs.writeFile(path.join(root, 'etc/machine-id'), '');
  for (const file of readdirSync(path.join(root, 'etc/ssh'))) {
    if (file.startsWith('ssh_host_')) await fs.rm(path.join(root, 'etc/ssh', file));
  }
  await driver.exec(null, cmd.inRoot(root, ['apt-get', 'clean']));
}

/**
 * Installs the servers' packages in an overlay above the base, with service starts blocked. The
 * units the packages enable are disabled again: a machine boots like a fresh server whose daemons
 * foobar has not configured yet, and foobar enables what it runs.
 */
async function installLayer(driver: Driver, base: string, upper: string): Promise<void> {
  const work = `${upper}.work`;
  const merged = `${upper}.merged`;
  await fs.mkdir(work, { recursive: true });
  await fs.mkdir(merged, { recursive: true });
  await driver.exec(null, cmd.mountOverlay([base], upper, work, merged));
  try {
    const policy = path.join(merged, 'usr/sbin/policy-rc.d');
    await fs.writeFile(policy, POLICY_RC_D, { mode: 0o755 });
    const before = await enabledUnits(driver, merged);
    await driver.exec(null, cmd.inRoot(merged, ['apt-get', '-q', 'update']));
    await driver.exec(
      null,
      cmd.inRoot(merged, [
        'apt-get',
        '-q',
        '-y',
        '--no-install-recommends',
        'install',
        ...SERVER_PACKAGES,
      ]),
    );
    const added = (await enabledUnits(driver, merged)).filter((unit) => !before.includes(unit));
    if (added.length > 0) {
      await driver.exec(null, {
        argv: ['systemctl', `--root=${merged}`, '--no-reload', 'disable', ...added],
      });
    }
    await driver.exec(null, cmd.inRoot(merged, ['apt-get', 'clean']));
    await fs.rm(policy);
  } finally {
    await driver.exec(null, cmd.umount(merged));
    await fs.rm(work, { recursive: true, force: true });
    await fs.rm(merged, { recursive: true, force: true });
  }
}

async function enabledUnits(driver: Driver, root: string): Promise<string[]> {
  const listed = await driver.exec(null, {
    argv: ['systemctl', `--root=${root}`, 'list-unit-files', '--state=enabled', '--no-legend'],
  });
  return listed.stdout
    .split('\n')
    .map((line) => line.split(/\s+/)[0] ?? '')
    .filter((unit) => unit !== '');
}

/**
 * This machine's Debian sources (deb822 stanzas signed by Debian's key), so the image comes from
 * the same mirror and suites; the first stanza carrying the release itself is debootstrap's mirror.
 */
export function hostDebianSources(): DebianSources {
  const files = existsSync(APT_SOURCES_DIR)
    ? readdirSync(APT_SOURCES_DIR)
        .filter((file) => file.endsWith('.sources'))
        .sort()
        .map((file) => readFileSync(path.join(APT_SOURCES_DIR, file), 'utf8'))
    : [];
  return debianSources(files);
}

export interface DebianSources {
  /** debootstrap's mirror. */
  readonly mirror: string;
  /** The image's /etc/apt/sources.list.d/debian.sources. */
  readonly text: string;
}

/** The Debian stanzas of deb822 sources files (not third parties' such as NodeSource). */
export function debianSources(files: readonly string[]): DebianSources {
  const stanzas = files
    .flatMap((file) => file.split(/\n\s*\n/))
    .map(parseStanza)
    .filter(
      (s) =>
        s.get('Types')?.split(/\s+/).includes('deb') === true &&
        (s.get('Signed-By') ?? DEBIAN_KEYRING) === DEBIAN_KEYRING &&
        (s.get('Suites') ?? '').split(/\s+/).some((suite) => suite.startsWith(SUITE)),
    );
  const main = stanzas.find((s) => (s.get('Suites') ?? '').split(/\s+/).includes(SUITE));
  const mirror = main?.get('URIs')?.split(/\s+/)[0];
  if (mirror === undefined) {
    throw new Error(
      `no Debian ${SUITE} source in ${APT_SOURCES_DIR}/*.sources: the image is built from this machine's mirror (add a deb822 stanza for it)`,
    );
  }
  const text = stanzas
    .map((s) =>
      [...s.entries()]
        .filter(([field]) => ['Types', 'URIs', 'Suites', 'Components', 'Signed-By'].includes(field))
        .map(([field, value]) => `${field}: ${value}`)
        .join('\n'),
    )
    .join('\n\n');
  return { mirror, text: `${text}\n` };
}

/**
 * What each stage is built from, as a digest: the base changes with the mirror and its packages;
 * the layer with the base, the sources and the servers' packages.
 */
export function stageKeys(inputs: {
  readonly mirror: string;
  readonly text: string;
  readonly basePackages: readonly string[];
  readonly serverPackages: readonly string[];
}): { base: string; layer: string } {
  const base = keyOf({
    recipe: RECIPE,
    suite: SUITE,
    mirror: inputs.mirror,
    packages: inputs.basePackages,
  });
  const layer = keyOf({ base, sources: inputs.text, packages: inputs.serverPackages });
  return { base, layer };
}

function parseStanza(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) fields.set(match[1], match[2].trim());
  }
  return fields;
}

/** Overlayfs forbids changing a lower layer under a mounted overlay: refuse while machines run. */
function refuseWhileInUse(dir: string): void {
  const users = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('overlay ') && line.includes(`lowerdir=${dir}/`));
  if (users.length > 0) {
    throw new Error(
      `the image in ${dir} is in use by ${users.length} mounted machine(s): run \`npm run machines -- down\` first`,
    );
  }
}

function readStamp(file: string): Stamp | undefined {
  if (!existsSync(file)) return undefined;
  const parsed = Stamp.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  return parsed.success ? parsed.data : undefined;
}

function keyOf(inputs: unknown): string {
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
}

async function diskUsage(driver: Driver, dir: string): Promise<number> {
  const out = await driver.exec(null, cmd.diskUsage(dir));
  return Number(out.stdout.split(/\s/)[0]);
}

export function mb(bytes: number): string {
  return `${Math.round(bytes / 1e6)} MB`;
}
