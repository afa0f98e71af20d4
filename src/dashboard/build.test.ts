import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { buildDashboard } from './build.ts';

describe('buildDashboard', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-dashboard-build-'));
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('builds the same id from the same sources: a server, the page, its script and styles', async () => {
    const first = await buildDashboard(dir);
    const second = await buildDashboard(dir);
    assert.match(first.id, /^[0-9a-f]{12}$/);
    assert.equal(second.id, first.id);
    assert.deepEqual(Object.keys(first.manifest.files), [
      'server.mjs',
      'static/dashboard.css',
      'static/dashboard.js',
      'static/index.html',
    ]);
  });

  it('needs nothing from the internet: uPlot is in the bundle, no asset names a URL', async () => {
    const build = await buildDashboard(dir);
    const statics = path.join(build.dir, 'static');
    for (const file of await fs.readdir(statics)) {
      const text = await fs.readFile(path.join(statics, file), 'utf8');
      assert.doesNotMatch(text, /(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i, file);
    }
    assert.match(await fs.readFile(path.join(statics, 'dashboard.css'), 'utf8'), /\.uplot\{/);
    assert.match(await fs.readFile(path.join(statics, 'dashboard.js'), 'utf8'), /u-legend/);
  });
});
