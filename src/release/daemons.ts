/**
 * foobar's own daemons (the failover manager, the backup agent and tool, the lab's log rotator)
 * bundled with esbuild into one .mjs each, as the app's release is: they start from one file
 * instead of some 400 TypeScript modules, hold less memory, and can be copied to a machine that
 * has no checkout. The build's directory is named by a hash of its inputs (`daemonsKey`), so a
 * second `up` finds it and builds nothing; it carries a manifest like a release, and a copy on a
 * host is checked against it on arrival (`installTree`).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BACKUP_TOOL, IN_BUNDLE, type ToolPlace } from '../commands/backup.ts';
import type { Command } from '../drivers/driver.ts';
import { sourceFingerprint } from '../lib/fingerprint.ts';
import { runtimeOf } from '../model/layout.ts';
import type { Model } from '../model/model.ts';
import {
  BUNDLER_INPUTS,
  bundle,
  intactManifest,
  pruneBuilds,
  stageBuild,
  type BuiltRelease,
} from './build.ts';

const REPO = path.resolve(import.meta.dirname, '../..');

/** Each bundle's entry point, by the name of its file in the build (`<name>.mjs`). */
export const DAEMON_ENTRIES = {
  'failover-manager': 'src/failover/main.ts',
  backup: 'src/backup/main.ts',
  'log-rotator': 'src/platform/lab/rotator.ts',
} as const;
export type DaemonBundle = keyof typeof DAEMON_ENTRIES;

/**
 * A small V8 heap for long-running daemons of ours: a young generation of 2 MB (default 16–32)
 * and an old one capped at 96 MB. The managers and agents hold little; with V8's defaults each
 * grew to 60–90 MB before it collected. V8's memory saver mode collects the old generation
 * before it grows much past what is live (a failover manager: 63 → 49 MB of PSS a minute after
 * its start, with 10% more of its small CPU time).
 */
export const DAEMON_V8_FLAGS = [
  '--max-semi-space-size=2',
  '--max-old-space-size=96',
  '--memory-saver-mode',
] as const;

/**
 * Their environment: one malloc arena. V8's helper threads (compilers, the collector) would each
 * keep an arena of their own, freed memory and all; these daemons run their JavaScript on one
 * thread and gain nothing from more (a failover manager: 3 MB less).
 *
 * And blocks of 32 KB or more mapped on their own, so that freeing one gives it back. What V8
 * frees once it has parsed and compiled a 2 MB bundle, and the 64 KB buffers of the backup
 * agent's streams, stayed in the arena among smaller blocks that live on: a manager held 3–8 MB
 * of free malloc memory, the backup agent 12 MB after a full backup. With this, 0.2–3 MB, and no
 * CPU time above the noise (docs/decisions.md). Since full backups arrive over TLS, whose plain
 * text comes in chunks of up to 16 KB, the agent's heap grows to some 15 MB again after backups;
 * a 4 KB threshold kept it at 7.5 MB for 20% more of its CPU during backups, and was not kept
 * (bench/results/by-hand-2026-12-07T20-daemon-memory.txt).
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '1',
  MALLOC_MMAP_THRESHOLD_: '32768',
};

/** Where the builds are on this machine; the hosts' copies are in `daemonsDir`. */
function buildsDir(model: Model): string {
  return path.join(model.lab.stateDir, 'daemons');
}

let key: string | undefined;

/**
 * A hash of what the bundles are made of: foobar's sources (and the app's, which the failover
 * manager's SQL shares), the locked dependencies and the bundler's version.
 */
export function daemonsKey(): string {
  if (key !== undefined) return key;
  const hash = createHash('sha256');
  hash.update(`src ${sourceFingerprint(path.join(REPO, 'src'))}\n`);
  hash.update(`app ${sourceFingerprint(path.join(REPO, 'app', 'src'))}\n`);
  for (const file of BUNDLER_INPUTS) hash.update(readFileSync(file));
  key = hash.digest('hex').slice(0, 12);
  return key;
}

/** The bundles' directory on a host: the build itself in the lab, a copy on machines. */
export function daemonsDir(model: Model): string {
  return model.platform.kind === 'machines'
    ? path.join('/usr/local/lib/foobar/daemons', daemonsKey())
    : path.join(buildsDir(model), daemonsKey());
}

/** How a host runs one of the bundles: its runtime with a small heap, the bundle, `args`. */
export function daemonCommand(model: Model, name: DaemonBundle, args: readonly string[]): Command {
  return {
    argv: [
      runtimeOf(model),
      ...DAEMON_V8_FLAGS,
      path.join(daemonsDir(model), `${name}.mjs`),
      ...args,
    ],
  };
}

/**
 * Where a host runs the backup tool (src/backup/main.ts) on the platform's Node.js: the bundle
 * beside the agent when the agent asks; else the daemons' bundle of this checkout (`up` built it
 * in the lab and copied it to the backup host and the database servers of machines). The lab's
 * commands ran the tool from its TypeScript sources before: 0.9–1.5 s of CPU a run to load them.
 */
export function backupTool(model: Model): ToolPlace {
  const runtime = runtimeOf(model);
  if (IN_BUNDLE) return { runtime, file: BACKUP_TOOL };
  return { runtime, file: path.join(daemonsDir(model), 'backup.mjs') };
}

/**
 * Daemon builds kept in a directory of them (this machine's, and on machines each host's copies):
 * the newest two, the current one whatever its age, so that a daemon `up` has not restarted yet
 * may still run the one before (the backup agent also starts its own file on the database
 * servers). Every change to foobar's sources makes a new key, and each build is some 4.5 MB:
 * without this they piled up for good.
 */
export const KEEP_DAEMON_BUILDS = 2;

const building = new Map<string, Promise<BuiltRelease>>();

async function existingBuild(dir: string): Promise<BuiltRelease | undefined> {
  const manifest = await intactManifest(dir);
  return manifest === undefined ? undefined : { id: daemonsKey(), dir, manifest, fresh: false };
}

async function build(root: string): Promise<BuiltRelease> {
  const dir = path.join(root, daemonsKey());
  const found = await existingBuild(dir);
  if (found !== undefined) return found;
  await fs.rm(dir, { recursive: true, force: true });
  const staged = await stageBuild(path.join(root, '.staged'), async (staging) => {
    for (const [name, entry] of Object.entries(DAEMON_ENTRIES))
      await bundle({
        entry: path.join(REPO, entry),
        outfile: path.join(staging, `${name}.mjs`),
        platform: 'node',
        daemon: true,
      });
  });
  try {
    await fs.rename(staged.dir, dir);
  } catch (error) {
    // Built at the same time by another foobar: theirs is as good.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    await fs.rm(staged.dir, { recursive: true, force: true });
  }
  await pruneBuilds(root, new Set([daemonsKey()]), KEEP_DAEMON_BUILDS);
  return { id: daemonsKey(), dir, manifest: staged.manifest, fresh: true };
}

/**
 * The bundles, built on this machine once per key (once per `up` at most), in the state
 * directory or in `root` (`up --dry-run` builds in a scratch directory and leaves no state).
 */
export function buildDaemons(model: Model, root = buildsDir(model)): Promise<BuiltRelease> {
  let pending = building.get(root);
  if (pending === undefined) {
    pending = build(root);
    building.set(root, pending);
    // A failed build is tried again by the next caller.
    pending.catch(() => building.delete(root));
  }
  return pending;
}
