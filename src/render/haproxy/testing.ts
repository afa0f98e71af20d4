/** What `haproxy -c` needs beside a load balancer's config, for tests of configs that use ours. */
import { writeFileSync } from 'node:fs';
import type { HostPaths } from '../../model/layout.ts';
import { transitFiles, trustedCa } from '../../model/transit.ts';
import { selfSignedCertificate } from '../testing.ts';
import { haproxyFiles, renderChallengeMap } from './index.ts';

/**
 * The site's certificate (self-signed), the stats frontend's (the exporters' certificate, its key
 * beside it), the CA the web servers' certificates are verified against (ca-file) and the ACME
 * challenge map, where the config names them.
 */
export async function writeHaproxyCheckFiles(paths: HostPaths): Promise<void> {
  const files = haproxyFiles(paths);
  const site = await selfSignedCertificate(
    { cert: `${files.certificate}.crt`, key: `${files.certificate}.key` },
    'www.foobar.com',
  );
  writeFileSync(files.certificate, `${site.cert}${site.key}`, { mode: 0o600 });
  await selfSignedCertificate(transitFiles(paths, 'exporters'), 'lb-01.core.foobar.com');
  writeFileSync(trustedCa(paths), site.cert);
  writeFileSync(files.challenges, renderChallengeMap());
}
