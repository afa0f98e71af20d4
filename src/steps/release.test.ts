/**
 * A release copied to a web server over SSH (a real sshd on 127.0.0.1, src/drivers/sshd-testing.ts):
 * streamed, checked file by file on the host against the build's manifest, and refused when the
 * host's copy differs, whatever manifest came with it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Target } from '../drivers/driver.ts';
import { SshDriver, type SshDriverOptions } from '../drivers/ssh.ts';
import { startTestSshd, type TestSshd } from '../drivers/sshd-testing.ts';
import { buildModel } from '../model/build.ts';
import { hostPaths } from '../model/layout.ts';
import { stageBuild, type BuiltRelease } from '../release/build.ts';
import { MANIFEST_FILE } from '../release/manifest.ts';
import { createContext } from './context.ts';
import { installRelease, verifyRelease } from './release.ts';

/** Damages every copy after it arrives: one byte of server.mjs, and a manifest made to match it. */
class DamagingDriver extends SshDriver {
  override async copyDir(target: Target, from: string, to: string): Promise<void> {
    await super.copyDir(target, from, to);
    const server = path.join(to, 'server.mjs');
    const damaged = `${(await this.readFile(target, server)) ?? ''}x`;
    await this.writeFile(target, server, damaged);
    const manifest = JSON.parse(
      (await this.readFile(target, path.join(to, MANIFEST_FILE))) ?? '{}',
    ) as {
      files: Record<string, string>;
    };
    manifest.files['server.mjs'] = createHash('sha256').update(damaged).digest('hex');
    await this.writeFile(target, path.join(to, MANIFEST_FILE), JSON.stringify(manifest));
  }
}

describe('a release copied over SSH', () => {
  let sshd: TestSshd;
  let dir: string;
  let options: SshDriverOptions;
  const drivers: SshDriver[] = [];

  const build = (text: string): Promise<BuiltRelease> =>
    stageBuild(path.join(dir, 'builds'), async (staging) => {
      await fs.mkdir(path.join(staging, 'static'));
      await fs.writeFile(
        path.join(staging, 'server.mjs'),
        `console.log(${JSON.stringify(text)});\n`,
      );
      await fs.writeFile(path.join(staging, 'static', 'app.css'), 'body {}\n');
    });

  before(async () => {
    sshd = await startTestSshd();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-release-'));
    options = {
      destinations: { 'web-01': sshd.destination },
      stateDir: path.join(dir, 'state'),
      configFile: sshd.clientConfig,
    };
  });

  after(async () => {
    for (const driver of drivers) await driver.close();
    await sshd.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const contextWith = (driver: SshDriver) => {
    drivers.push(driver);
    return createContext(buildModel({ lab: { stateDir: path.join(dir, 'hosts') } }), driver);
  };

  it('is streamed, checked on the host, and found present the second time', async () => {
    const ctx = contextWith(new SshDriver(options));
    const release = await build('one');
    assert.equal(await installRelease(ctx, 'web-01', release), 'copied');
    assert.deepEqual(await verifyRelease(ctx, 'web-01', release.id), []);
    assert.equal(await installRelease(ctx, 'web-01', release), 'present');
  });

  it('is refused when the host’s files differ from the build’s manifest, and says so', async () => {
    const ctx = contextWith(new DamagingDriver(options));
    const release = await build('two');
    const where = path.join(hostPaths(ctx.model, 'web-01').releases, release.id);
    await assert.rejects(
      installRelease(ctx, 'web-01', release),
      new Error(
        `the copy of ${release.id} in ${where} on web-01 is damaged (its files differ from the ` +
          `build's manifest, checked on web-01): server.mjs: checksum differs. Nothing was ` +
          `switched to it; run the command again to copy it anew, and if it fails again, check ` +
          `web-01's disk.`,
      ),
    );
    // The manifest that came with the copy agrees with the damage: only this machine's catches it.
    assert.deepEqual(await verifyRelease(ctx, 'web-01', release.id), []);
  });
});
