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
    // Built again elsewhere, from nothing: the bundles are deterministic.
    const other = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-dashboard-build-'));
    const second = await buildDashboard(other).finally(() =>
      fs.rm(other, { recursive: true, force: true }),
    );
    assert.match(first.id, /^[0-9a-f]{12}$/);
    assert.equal(second.id, first.id);
    assert.equal(second.fresh, true);
    assert.deepEqual(Object.keys(first.manifest.files), [
      'server.mjs',
      'static/dashboard.css',
      'static/dashboard.js',
      'static/index.html',
    ]);
  });

  it('is found again when nothing it is made of changed, and built again when damaged', async () => {
    const built = await buildDashboard(dir);
    const found = await buildDashboard(dir);
    assert.deepEqual({ id: found.id, fresh: found.fresh }, { id: built.id, fresh: false });
    await fs.appendFile(path.join(built.dir, 'static', 'index.html'), '<!-- edited -->');
    await fs.rm(built.dir, { recursive: true, force: true });
    const again = await buildDashboard(dir);
    assert.deepEqual({ id: again.id, fresh: again.fresh }, { id: built.id, fresh: true });
    await fs.appendFile(path.join(again.dir, 'static', 'index.html'), '<!-- edited -->');
    const repaired = await buildDashboard(dir);
    assert.equal(repaired.id, built.id);
    assert.doesNotMatch(
      await fs.readFile(path.join(repaired.dir, 'static', 'index.html'), 'utf8'),
      /edited/,
    );
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
