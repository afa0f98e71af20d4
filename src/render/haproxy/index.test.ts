import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { haproxy } from '../../commands/haproxy.ts';
import { assertGolden } from '../golden.ts';
import { fixture, runChecker, scratchFixture } from '../testing.ts';
import { trustedCa } from '../../model/transit.ts';
import { haproxyFiles, renderHaproxyConfig } from './index.ts';
import { writeHaproxyCheckFiles } from './testing.ts';

const ACME = { tls: { acme: { directory: 'https://acme.example/dir' } } };

const golden = (name: string): string => path.join(import.meta.dirname, '__golden__', name);

describe('renderHaproxyConfig', () => {
  it('matches the golden file for lb-01 of the default lab', () => {
    const { model, host, paths } = fixture('lb-01');
    assertGolden(golden('lb-01.cfg'), renderHaproxyConfig(model, host, paths));
  });

  it('answers ACME HTTP-01 challenges from its map before the redirect, with tls.acme only', () => {
    const { model, host, paths } = fixture('lb-01', ACME);
    const config = renderHaproxyConfig(model, host, paths);
    assertGolden(golden('lb-01-acme.cfg'), config);
    const challenge = config.indexOf('acme-challenges.map');
    assert.ok(challenge > 0 && challenge < config.indexOf('redirect scheme https'));
    const lab = fixture('lb-01');
    assert.doesNotMatch(renderHaproxyConfig(lab.model, lab.host, lab.paths), /acme/);
  });

  it('lists every web server of the model, three with the example config', () => {
    const { model, host, paths } = fixture('lb-02', {
      hosts: { 'web-03': { roles: ['web'], core: 23 } },
    });
    const servers = renderHaproxyConfig(model, host, paths).match(/^ {4}server .*$/gm);
    const tls = (web: string): string =>
      `ssl verify required ca-file ${trustedCa(paths)} verifyhost ${web}.core.foobar.com`;
    assert.deepEqual(servers, [
      `    server web-01 10.77.2.21:443 ${tls('web-01')}`,
      `    server web-02 10.77.2.22:443 ${tls('web-02')}`,
      `    server web-03 10.77.2.23:443 ${tls('web-03')}`,
      `    server web-01 10.77.2.21:443 ${tls('web-01')} track web/web-01`,
      `    server web-02 10.77.2.22:443 ${tls('web-02')} track web/web-02`,
      `    server web-03 10.77.2.23:443 ${tls('web-03')} track web/web-03`,
    ]);
  });

  it('exempts the configured hosts from the rate limit, by their edge address', () => {
    const { model, host, paths } = fixture('lb-01', {
      limits: { rateLimit: { requests: 50, periodSeconds: 5, exempt: ['client', 'mon'] } },
    });
    const config = renderHaproxyConfig(model, host, paths);
    assert.match(config, /^ {4}acl rate_exempt src 10\.77\.1\.100 10\.77\.1\.90$/m);
    assert.match(config, /^ {4}http-request track-sc0 src unless rate_exempt$/m);
    assert.match(config, /store http_req_rate\(5s\)$/m);
    assert.match(config, /^ {4}acl over_rate sc_http_req_rate\(0\) gt 50$/m);
    assert.match(config, /deny_status 429 .* hdr Retry-After 5 if over_rate$/m);
  });

  for (const [what, overrides] of [
    ['the lab', {}],
    ['tls.acme', ACME],
  ] as const)
    it(`is accepted by haproxy -c with zero warnings (${what})`, async () => {
      const lab = scratchFixture('lb-01', overrides);
      try {
        const files = haproxyFiles(lab.paths);
        await writeHaproxyCheckFiles(lab.paths);
        writeFileSync(files.config, renderHaproxyConfig(lab.model, lab.host, lab.paths));
        const result = await runChecker(haproxy.check(files.config));
        assert.equal(result.exitCode, 0, result.stderr);
      } finally {
        lab.dispose();
      }
    });
});
