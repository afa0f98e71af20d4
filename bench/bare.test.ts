import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { haproxy } from '../src/commands/haproxy.ts';
import { trustedCa } from '../src/model/transit.ts';
import { runChecker, scratchFixture, selfSignedCertificate } from '../src/render/testing.ts';
import { renderBareHaproxy, type BareBackends } from './bare.ts';

describe('renderBareHaproxy', () => {
  for (const backends of [
    { kind: 'tls', reuse: 'always' },
    { kind: 'tls', reuse: 'safe' },
    { kind: 'plain', port: 8080 },
  ] satisfies BareBackends[])
    it(`is accepted by haproxy -c with zero warnings (${JSON.stringify(backends)})`, async () => {
      const lab = scratchFixture('lb-01');
      try {
        const dir = path.join(lab.paths.etc, 'haproxy-bare');
        // The site's certificate, self-signed, and the CA the web servers are verified with.
        const site = await selfSignedCertificate(
          { cert: trustedCa(lab.paths), key: path.join(dir, 'site.key') },
          'www.foobar.com',
        );
        const pem = path.join(dir, 'site.pem');
        writeFileSync(pem, `${site.cert}${site.key}`, { mode: 0o600 });
        const config = path.join(dir, 'haproxy.cfg');
        const text = renderBareHaproxy(lab.model, lab.host, pem, 8443, backends);
        writeFileSync(config, text);
        const result = await runChecker(haproxy.check(config));
        assert.equal(result.exitCode, 0, result.stderr);
        const servers = text.match(/^ {4}server .*$/gm) ?? [];
        assert.equal(servers.length, 2);
        for (const server of servers)
          assert.equal(server.includes(' ssl verify required '), backends.kind === 'tls', server);
      } finally {
        lab.dispose();
      }
    });
});
