import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { haproxy } from '../src/commands/haproxy.ts';
import { renderHaproxyConfig } from '../src/render/haproxy/index.ts';
import { writeHaproxyCheckFiles } from '../src/render/haproxy/testing.ts';
import { runChecker, scratchFixture } from '../src/render/testing.ts';
import {
  fixedLoad,
  formatProfiles,
  parseCallgrind,
  profiledConfig,
  type Profile,
} from './profile.ts';

// A callgrind file as valgrind 3.19 writes it (names compressed, a call's inclusive cost after
// `calls=`, positions relative).
const SAMPLE = `# callgrind format
version: 1
events: Ir
summary: 1000

ob=(1) /usr/lib/x86_64-linux-gnu/libc.so.6
fl=(1) ???
fn=(1) memcpy
0 300
+2 100

ob=(2) /usr/sbin/haproxy
fl=(2) ???
fn=(2) process_stream
0 250
cob=(1)
cfi=(1)
cfn=(1)
calls=3 0
0 400
* 50
ob=(1)
fl=(1)
fn=(3) malloc
0 300
`;

describe('parseCallgrind', () => {
  it('sums each object’s self cost, not the inclusive cost of its calls', () => {
    const counts = parseCallgrind(SAMPLE);
    assert.equal(counts.total, 1000);
    assert.deepEqual(
      [...counts.byObject],
      [
        ['libc.so.6', 700],
        ['haproxy', 300],
      ],
    );
  });

  it('reads what callgrind wrote for a real program', async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-callgrind-'));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const out = path.join(dir, 'out');
    await promisify(execFile)('valgrind', [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      'true',
    ]);
    const text = readFileSync(out, 'utf8');
    const summary = Number(/^summary: (\d+)$/m.exec(text)?.[1]);
    const counts = parseCallgrind(text);
    assert.ok(summary > 10_000, `callgrind counted ${summary} instructions`);
    // Every instruction counted once: the self costs add up to callgrind's own total.
    assert.equal(counts.total, summary);
    assert.ok((counts.byObject.get('true') ?? 0) > 0, [...counts.byObject.keys()].join(', '));
    assert.ok(readdirSync(dir).length === 1);
  });
});

describe('profiledConfig', () => {
  it('takes the master and the checks out of our config, and haproxy -c accepts the rest', async () => {
    const lab = scratchFixture('lb-01');
    try {
      await writeHaproxyCheckFiles(lab.paths);
      const ours = renderHaproxyConfig(lab.model, lab.host, lab.paths);
      assert.match(ours, / check inter /);
      assert.match(ours, / track web\/web-01/);
      const text = profiledConfig(ours);
      assert.match(ours, /^\s+master-worker$/m);
      assert.doesNotMatch(
        text,
        / check inter | track |httpchk|http-check|^\s+default-server|master-worker/m,
      );
      // The rest is ours, line for line.
      const kept = ours
        .split('\n')
        .filter((line) => !/httpchk|http-check|default-server check|master-worker/.test(line));
      assert.equal(text.split('\n').length, kept.length);
      assert.match(ours, /^\s+timeout connect 1s$/m);
      assert.match(text, /^\s+timeout connect 60s$/m);
      assert.doesNotMatch(text, /^\s+timeout [a-z-]+ (?!60s$)/m);
      const config = path.join(lab.paths.etc, 'profiled.cfg');
      writeFileSync(config, text);
      const result = await runChecker(haproxy.check(config));
      assert.equal(result.exitCode, 0, result.stderr);
    } finally {
      lab.dispose();
    }
  });
});

describe('fixedLoad', () => {
  it('sends a number of requests, over HTTP/1.1 or HTTP/2, with the site’s name', () => {
    assert.deepEqual(fixedLoad('https://10.0.0.1:8473/a.css', 400, { http2: false, host: 'h' }), [
      'h2load',
      '--h1',
      '--clients=4',
      '--requests=400',
      '--header',
      ':authority: h',
      'https://10.0.0.1:8473/a.css',
    ]);
    assert.deepEqual(fixedLoad('https://x/', 8, { http2: true, host: 'h' }).slice(1, 2), [
      '--max-concurrent-streams=4',
    ]);
  });
});

describe('formatProfiles', () => {
  it('prints each HAProxy per request, against bare and the copy of ours', () => {
    const profile = (name: string, haproxy: number, libc: number): Profile => ({
      name,
      requests: 1000,
      counts: {
        total: haproxy + libc,
        byObject: new Map([
          ['haproxy', haproxy],
          ['libc.so.6', libc],
        ]),
      },
    });
    const text = formatProfiles('title', [
      profile('bare', 50_000_000, 20_000_000),
      profile('a copy of ours', 90_000_000, 50_000_000),
      profile('without x', 80_000_000, 50_000_000),
    ]);
    const lines = text.split('\n');
    assert.equal(lines[0], 'title');
    assert.match(lines[4] ?? '', /^bare\s+70\.0k\s+50\.0k\s+20\.0k\s+0\.0k\s+0\.0k\s+1\.00$/);
    assert.match(lines[5] ?? '', /^a copy of ours\s+140\.0k\s+90\.0k\s+50\.0k.*\s2\.00$/);
    assert.match(lines[6] ?? '', /^without x\s+130\.0k\s+80\.0k\s+50\.0k.*\s1\.86\s+10\.0k$/);
  });
});
