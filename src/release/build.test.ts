import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { bundle, buildRelease, DEFAULT_APP_DIR, supersededBuilds } from './build.ts';
import { checksumTree, diffManifest } from './manifest.ts';

describe('buildRelease', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-build-'));
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('gives the same id for the same sources, and a manifest that matches the files', async () => {
    const first = await buildRelease(DEFAULT_APP_DIR, dir);
    const second = await buildRelease(DEFAULT_APP_DIR, dir);
    assert.match(first.id, /^[0-9a-f]{12}$/);
    assert.equal(second.id, first.id);
    assert.equal(second.fresh, false);
    assert.deepEqual(Object.keys(first.manifest.files), [
      'migrations/001_messages.sql',
      'server.mjs',
      'static/app.css',
      'static/app.js',
      'static/logo.svg',
      'static/robots.txt',
    ]);
    assert.deepEqual(diffManifest(first.manifest, await checksumTree(first.dir)), []);
  });

  it('finds a build again by its inputs, and makes it again when its files were damaged', async () => {
    const first = await buildRelease(DEFAULT_APP_DIR, dir);
    await fs.appendFile(path.join(first.dir, 'server.mjs'), '\n// damaged\n');
    const again = await buildRelease(DEFAULT_APP_DIR, dir);
    assert.equal(again.id, first.id);
    assert.equal(again.fresh, true, 'bundled again, not taken damaged');
    assert.deepEqual(diffManifest(again.manifest, await checksumTree(again.dir)), []);
  });

  it('gives another id when a static file changes, and diffManifest names the file', async () => {
    const app = path.join(dir, 'app');
    await fs.cp(DEFAULT_APP_DIR, app, {
      recursive: true,
      filter: (src) => !src.includes('.test.'),
    });
    const before = await buildRelease(app, path.join(dir, 'b'));
    await fs.appendFile(path.join(app, 'static', 'app.css'), '\n/* changed */\n');
    const changed = await buildRelease(app, path.join(dir, 'b'));
    assert.notEqual(changed.id, before.id);
    assert.deepEqual(diffManifest(before.manifest, await checksumTree(changed.dir)), [
      'static/app.css: checksum differs',
    ]);
  });
});

describe('bundle for Node.js', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-bundle-'));
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('requires Node.js modules instead of importing them, so node:http loads no undici', async () => {
    const entry = path.join(dir, 'entry.mjs');
    await fs.writeFile(
      entry,
      [
        "import http, { createServer } from 'node:http';",
        "import { readFile } from 'node:fs/promises';",
        'const undici = process.moduleLoadList.some((m) => m.includes("undici"));',
        'console.log(JSON.stringify({ undici, same: http.createServer === createServer, readFile: typeof readFile }));',
      ].join('\n'),
    );
    const run = (file: string): unknown =>
      JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8' }));
    // The reason: an ES module import of node:http reads its lazy WebSocket getter.
    assert.deepEqual(run(entry), { undici: true, same: true, readFile: 'function' });
    const outfile = path.join(dir, 'bundle.mjs');
    await bundle({ entry, outfile, platform: 'node', daemon: true });
    assert.deepEqual(run(outfile), { undici: false, same: true, readFile: 'function' });
  });
});

describe('supersededBuilds', () => {
  const builds = [
    { id: 'aaaaaaaaaaaa', mtime: 100 },
    { id: 'cccccccccccc', mtime: 300 },
    { id: 'bbbbbbbbbbbb', mtime: 200 },
    { id: 'dddddddddddd', mtime: 50 },
  ];

  it('names all but the newest, whatever their order, and never one kept', () => {
    assert.deepEqual(supersededBuilds(builds, new Set(), 2), ['aaaaaaaaaaaa', 'dddddddddddd']);
    assert.deepEqual(supersededBuilds(builds, new Set(['dddddddddddd']), 2), ['aaaaaaaaaaaa']);
    assert.deepEqual(supersededBuilds(builds, new Set(['aaaaaaaaaaaa']), 1), [
      'bbbbbbbbbbbb',
      'dddddddddddd',
    ]);
    assert.deepEqual(supersededBuilds(builds, new Set(), 4), []);
  });

  it('takes nothing for a build that is not named like one: staging, the dashboard', () => {
    const others = [
      { id: '.staged', mtime: 1 },
      { id: 'dashboard', mtime: 2 },
      { id: 'ABCDEFABCDEF', mtime: 3 },
      ...builds,
    ];
    assert.deepEqual(supersededBuilds(others, new Set(), 3), ['dddddddddddd']);
  });
});
