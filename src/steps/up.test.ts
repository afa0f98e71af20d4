import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { RecordingDriver } from '../drivers/recording.ts';
import { buildModel } from '../model/build.ts';
import { createContext } from './context.ts';
import { runPlan } from './plan.ts';
import { upPlan } from './up.ts';

it('up --dry-run builds the edge: resolvers, CA, firewalls checked then applied, NSD checked', async () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'foobar-up-test-'));
  try {
    const model = buildModel({ lab: { name: 'dry', stateDir: '/var/lib/foobar/dry' } });
    const driver = new RecordingDriver(undefined, { simulate: true });
    await runPlan(upPlan(createContext(model, driver), { buildsDir: scratch }));
    const calls = driver.calls;
    const index = (line: string): number => calls.findIndex((c) => c === line);
    const wrote = (file: string, mode: string): boolean =>
      calls.some((c) => c.startsWith(`[local] write ${file} (`) && c.endsWith(`, mode ${mode})`));
    assert.ok(wrote('/etc/netns/dry-client/resolv.conf', '644'));
    assert.ok(wrote('/var/lib/foobar/dry/secrets/ca.key', '600'));
    for (const host of model.hosts) {
      const file = `/var/lib/foobar/dry/hosts/${host.name}/etc/nftables.conf`;
      const check = index(`[${host.name}] $ nft -c -f ${file}`);
      assert.ok(check >= 0 && index(`[${host.name}] $ nft -f ${file}`) > check, host.name);
    }
    const zone = '/var/lib/foobar/dry/hosts/dns/etc/foobar.com.zone';
    const checked = index(`[dns] $ nsd-checkzone foobar.com ${zone}`);
    assert.ok(checked >= 0);
    assert.ok(calls.findIndex((c) => c.startsWith('[dns] spawn nsd -d -c ')) > checked);
    assert.ok(
      calls.some((c) =>
        /^\[lb-01\] write \S+\/lb-01\/etc\/tls\/site\.pem \(\d+ bytes, mode 600\)$/.test(c),
      ),
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
