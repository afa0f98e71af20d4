import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { ServerConfig } from '../../dashboard/config.ts';
import { RecordingDriver } from '../../drivers/recording.ts';
import { createContext } from '../../steps/context.ts';
import { serviceDaemons } from '../../steps/services.ts';
import { assertGolden } from '../golden.ts';
import { fixture } from '../testing.ts';
import { renderDashboardConfig, serviceChecks } from './index.ts';

describe('renderDashboardConfig', () => {
  it('matches the golden file for the default lab', () => {
    const { model, host, paths } = fixture('mon');
    assertGolden(
      path.join(import.meta.dirname, '__golden__', 'dashboard.json'),
      renderDashboardConfig(model, host, paths, '0123456789ab'),
    );
  });

  it('shows every host, with every service foobar runs there and a check for each', async () => {
    const { model, host, paths } = fixture('mon', {
      hosts: { 'web-03': { roles: ['web'], core: 23 } },
    });
    const config = JSON.parse(renderDashboardConfig(model, host, paths, 'x')) as ServerConfig;
    assert.deepEqual(
      config.page.hosts.map((h) => h.name),
      model.hosts.map((h) => h.name),
    );
    const ctx = createContext(model, new RecordingDriver());
    for (const each of model.hosts) {
      const shown = config.page.hosts.find((h) => h.name === each.name)?.services ?? [];
      // The lab's log rotator is foobar's housekeeping, not a service of the site: status shows it.
      const daemons = (await serviceDaemons(ctx, each)).map((d) => d.service);
      assert.deepEqual([...shown].sort(), [...daemons].sort(), each.name);
    }
    const checked = new Set(serviceChecks(model).map((c) => c.service));
    for (const service of config.page.hosts.flatMap((h) => h.services))
      assert.ok(checked.has(service), `no check for ${service}`);
  });

  it('lets only the admin in, and keeps Prometheus on the monitor’s loopback', () => {
    const { model, host, paths } = fixture('mon');
    const config = JSON.parse(renderDashboardConfig(model, host, paths, 'x')) as ServerConfig;
    assert.deepEqual(config.allow, ['10.77.1.1']);
    assert.deepEqual(config.listen, { host: '10.77.1.90', port: 8080 });
    assert.equal(config.prometheus, 'http://127.0.0.1:9090');
  });
});
