import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { keepalived } from '../../commands/keepalived.ts';
import type { Command } from '../../drivers/driver.ts';
import { assertGolden } from '../golden.ts';
import { fixture, inPreparedNamespace, runChecker, scratchFixture } from '../testing.ts';
import { keepalivedFiles, renderKeepalivedConfig } from './index.ts';

const golden = (name: string): string => path.join(import.meta.dirname, '__golden__', name);

/**
 * keepalived's config test refuses an interface that does not exist: it runs in an anonymous
 * namespace that has the edge interface (a bridge: no module needed), gone with the process.
 */
function inNamespaceWithEdge(check: Command): Command {
  return inPreparedNamespace('ip link add edge type bridge', check);
}

/** "priority" and "virtual_ipaddress" of each instance: name → [priority, address]. */
function instances(config: string): Record<string, [number, string]> {
  const result: Record<string, [number, string]> = {};
  for (const block of config.split('vrrp_instance ').slice(1)) {
    const name = block.slice(0, block.indexOf(' '));
    const priority = Number(/priority (\d+)/.exec(block)?.[1]);
    const address = /virtual_ipaddress \{\s+(\S+)/.exec(block)?.[1] ?? '';
    result[name] = [priority, address];
  }
  return result;
}

describe('renderKeepalivedConfig', () => {
  it('matches the golden file for lb-01 of the default lab', () => {
    const { model, host } = fixture('lb-01');
    assertGolden(golden('lb-01.conf'), renderKeepalivedConfig(model, host));
  });

  it('gives each load balancer the higher priority for its own address, unicast to the others', () => {
    const { model, host } = fixture('lb-02', {
      hosts: { 'lb-03': { roles: ['lb'], edge: 13, core: 13 } },
      vrrp: { virtualAddresses: { 'lb-03': 30 } },
    });
    const config = renderKeepalivedConfig(model, host);
    assert.deepEqual(instances(config), {
      'vip_lb-01': [100, '10.77.1.10/24'],
      'vip_lb-02': [150, '10.77.1.20/24'],
      'vip_lb-03': [99, '10.77.1.30/24'],
    });
    assert.match(
      config,
      /unicast_src_ip 10\.77\.1\.12\n {4}unicast_peer \{\n {8}10\.77\.1\.11\n {8}10\.77\.1\.13\n {4}\}/,
    );
    assert.equal(config.match(/virtual_router_id (\d+)/g)?.length, 3);
  });

  it('asks HAProxy’s monitor-uri several times a second, and the model’s advert interval', () => {
    const { model, host } = fixture('lb-01', {
      vrrp: { advertIntervalMs: 300, healthCheckIntervalMs: 200, preemptDelaySeconds: 5 },
      ports: { lbStats: 9404 },
    });
    const config = renderKeepalivedConfig(model, host);
    assert.match(
      config,
      /script "\/usr\/bin\/curl -fsS --fail-early --rate 300\/m -m 2 http:\/\/127\.0\.0\.1:9404\/health\?\[1-3\]"/,
    );
    assert.match(config, /advert_int 0\.3\n/);
    assert.match(config, /preempt_delay 5\n/);
  });

  it('is accepted by keepalived --config-test, and a wrong one is not', async () => {
    const lab = scratchFixture('lb-01');
    try {
      const file = keepalivedFiles(lab.paths).config;
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, renderKeepalivedConfig(lab.model, lab.host));
      const good = await runChecker(inNamespaceWithEdge(keepalived.check(file)));
      assert.equal(good.exitCode, 0, good.stderr);
      writeFileSync(
        file,
        renderKeepalivedConfig(lab.model, lab.host).replace('priority 150', 'priority 300'),
      );
      const bad = await runChecker(inNamespaceWithEdge(keepalived.check(file)));
      assert.notEqual(bad.exitCode, 0, 'the checker refuses a priority over 255');
    } finally {
      lab.dispose();
    }
  });
});
