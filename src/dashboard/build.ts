/**
 * Builds the dashboard like a release of the app: its server bundled into one file, the page's
 * script (uPlot included) and stylesheet bundled, every file checksummed in a manifest whose
 * hash is the build's id. Nothing is fetched at run time: the page needs no internet.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { bundle, stageBuild, type BuiltRelease } from '../release/build.ts';

const HERE = import.meta.dirname;

export async function buildDashboard(buildsDir: string): Promise<BuiltRelease> {
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
