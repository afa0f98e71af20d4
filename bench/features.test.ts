import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { haproxy } from '../src/commands/haproxy.ts';
import { haproxyFiles, renderHaproxyConfig } from '../src/render/haproxy/index.ts';
import { writeHaproxyCheckFiles } from '../src/render/haproxy/testing.ts';
import { runChecker, scratchFixture } from '../src/render/testing.ts';
import { FEATURES, renderCopy, type Feature } from './features.ts';

describe('copies of our HAProxy config, each without one feature', () => {
  for (const without of [undefined, ...FEATURES] as (Feature | undefined)[])
    it(`keeps ours but for ${without?.name ?? 'nothing'}, on its own port, and haproxy -c accepts it`, async () => {
      const lab = scratchFixture('lb-01');
      try {
        const files = haproxyFiles(lab.paths);
        await writeHaproxyCheckFiles(lab.paths);
        const socket = path.join(lab.paths.run, 'copy.sock');
        const text = renderCopy(lab.model, lab.host, {
          port: 8443,
          socket,
          ...(without === undefined ? {} : { without }),
        });
        const config = path.join(lab.paths.etc, 'copy.cfg');
        writeFileSync(config, text);
        const result = await runChecker(haproxy.check(config));
        assert.equal(result.exitCode, 0, result.stderr);
        // Ours, line for line, but for where it listens and the feature's lines.
        const ours = renderHaproxyConfig(lab.model, lab.host, lab.paths).split('\n');
        const copy = text.split('\n');
        assert.ok(copy.includes(`    bind :8443 ssl crt ${files.certificate} alpn h2,http/1.1`));
        assert.ok(!copy.some((line) => /^\s+bind :(80|443)\b/.test(line)));
        assert.ok(!copy.includes('frontend stats'));
        assert.ok(copy.some((line) => line.includes(`stats socket ${socket} `)));
        const removed = ours
          .slice(0, ours.indexOf('frontend stats'))
          .filter((line) => !copy.includes(line) && !/^\s+(bind|stats socket) /.test(line));
        if (without === undefined) assert.deepEqual(removed, []);
        else {
          assert.ok(removed.length > 0);
          for (const line of removed)
            assert.ok(
              without.lines.some((pattern) => pattern.test(line)),
              `${line} is not ${without.name}`,
            );
        }
      } finally {
        lab.dispose();
      }
    });

  it('refuses a feature whose lines our config no longer has', () => {
    const lab = scratchFixture('lb-01');
    try {
      assert.throws(
        () =>
          renderCopy(lab.model, lab.host, {
            port: 8443,
            socket: '/tmp/x.sock',
            without: { name: 'a gone feature', lines: [/^\s+option gone$/] },
          }),
        /no line of our HAProxy config is a gone feature/,
      );
    } finally {
      lab.dispose();
    }
  });
});
