/**
 * Builds the dashboard like a release of the app: its server bundled into one file, the page's
 * script (uPlot included) and stylesheet bundled, every file checksummed in a manifest whose
 * hash is the build's id. Nothing is fetched at run time: the page needs no internet.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import {
  bundle,
  rememberBuild,
  rememberedBuild,
  stageBuild,
  type BuiltRelease,
} from '../release/build.ts';
import { daemonsKey } from '../release/daemons.ts';

const HERE = import.meta.dirname;

/**
 * What the dashboard is made of: foobar's sources, the locked dependencies and the bundler (the
 * daemons' key), and the page's files that are not code.
 */
async function dashboardKey(): Promise<string> {
  const hash = createHash('sha256').update(`sources ${daemonsKey()}\n`);
  for (const file of ['index.html', 'dashboard.css'])
    hash.update(`${file}\0`).update(await fs.readFile(path.join(HERE, 'browser', file)));
  return hash.digest('hex').slice(0, 16);
}

/**
 * The dashboard's build: found again when nothing it is made of changed (every `up` asks, and
 * three bundles took 0.2–0.5 s of each), else built and remembered.
 */
export async function buildDashboard(buildsDir: string): Promise<BuiltRelease> {
  const key = await dashboardKey();
  const known = await rememberedBuild(buildsDir, key);
  if (known !== undefined) return known;
  const built = await buildFromSources(buildsDir);
  await rememberBuild(buildsDir, key, built.id);
  return built;
}

function buildFromSources(buildsDir: string): Promise<BuiltRelease> {
  return stageBuild(buildsDir, async (staging) => {
    const assets = path.join(staging, 'static');
    await bundle({
      entry: path.join(HERE, 'main.ts'),
      outfile: path.join(staging, 'server.mjs'),
      platform: 'node',
    });
    await bundle({
      entry: path.join(HERE, 'browser', 'main.ts'),
      outfile: path.join(assets, 'dashboard.js'),
      platform: 'browser',
    });
    await bundle({
      entry: path.join(HERE, 'browser', 'dashboard.css'),
      outfile: path.join(assets, 'dashboard.css'),
      platform: 'browser',
    });
    await fs.copyFile(path.join(HERE, 'browser', 'index.html'), path.join(assets, 'index.html'));
  });
}
