import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildModel } from './build.ts';
import { concreteFlows } from './flows.ts';
import {
  alertDeadlineSeconds,
  dashboardUrl,
  PROBE_JOBS,
  probeTargets,
  SCRAPE_JOBS,
  scrapeTargets,
} from './monitoring.ts';

describe('monitoring in the model', () => {
  const model = buildModel(undefined);
  const flows = concreteFlows(model);
  const exporterPorts = new Set(SCRAPE_JOBS.map((job) => model.ports[job.port]));

  it('lets the monitor, and only the monitor, reach each exporter of each host of its roles', () => {
    const toExporters = flows.filter(
      (f) => exporterPorts.has(f.port) && f.port !== model.ports.lbStats,
    );
    assert.deepEqual([...new Set(toExporters.map((f) => f.from))], ['mon']);
    const target = (port: number): string[] =>
      toExporters
        .filter((f) => f.port === port)
        .map((f) => `${f.to} ${f.address}`)
        .sort();
    assert.deepEqual(target(model.ports.nginxExporter), ['web-01 10.77.2.21', 'web-02 10.77.2.22']);
    assert.deepEqual(target(model.ports.appMetrics), ['web-01 10.77.2.21', 'web-02 10.77.2.22']);
    assert.deepEqual(target(model.ports.mysqldExporter), ['db-01 10.77.2.31', 'db-02 10.77.2.32']);
    // Every server but the client; the DNS server has no private address, so over the edge.
    assert.deepEqual(target(model.ports.nodeExporter), [
      'backup 10.77.2.40',
      'db-01 10.77.2.31',
      'db-02 10.77.2.32',
      'dns 10.77.1.53',
      'dns-02 10.77.1.54',
      'lb-01 10.77.2.11',
      'lb-02 10.77.2.12',
      'web-01 10.77.2.21',
      'web-02 10.77.2.22',
    ]);
  });

  it('opens the dashboard to the admin address only, on the edge', () => {
    assert.deepEqual(
      flows.filter((f) => f.port === model.ports.dashboard),
      [{ from: 'admin', to: 'mon', address: '10.77.1.90', port: 8080, proto: 'tcp' }],
    );
    assert.equal(dashboardUrl(model), 'http://10.77.1.90:8080/');
    assert.equal(dashboardUrl(buildModel({ hosts: { mon: null } })), undefined);
  });

  it('scrapes the web servers a config adds', () => {
    const bigger = buildModel({ hosts: { 'web-03': { roles: ['web'], core: 23 } } });
    const app = SCRAPE_JOBS.find((job) => job.job === 'app');
    assert.ok(app);
    assert.deepEqual(scrapeTargets(bigger, app), [
      { host: 'web-01', address: '10.77.2.21:9180', serverName: 'web-01.core.foobar.com' },
      { host: 'web-02', address: '10.77.2.22:9180', serverName: 'web-02.core.foobar.com' },
      { host: 'web-03', address: '10.77.2.23:9180', serverName: 'web-03.core.foobar.com' },
    ]);
  });

  it('probes each DNS server, each load balancer and each virtual address over the edge, as a client would', () => {
    assert.deepEqual(probeTargets(model, PROBE_JOBS.dns), [
      { host: 'dns', address: '10.77.1.53:53' },
      { host: 'dns-02', address: '10.77.1.54:53' },
    ]);
    assert.deepEqual(probeTargets(model, PROBE_JOBS.tls), [
      { host: 'lb-01', address: '10.77.1.11:443' },
      { host: 'lb-02', address: '10.77.1.12:443' },
    ]);
    assert.deepEqual(probeTargets(model, PROBE_JOBS.vip), [
      { host: 'lb-01', address: '10.77.1.10:443' },
      { host: 'lb-02', address: '10.77.1.20:443' },
    ]);
  });

  it('bounds how long a failure takes to fire its alert by the lab’s intervals', () => {
    assert.equal(alertDeadlineSeconds(model), 2 + 2 * 2 + 4);
    const slow = buildModel({
      monitoring: {
        scrapeIntervalSeconds: 15,
        evaluationIntervalSeconds: 15,
        alertAfterSeconds: 60,
        rateWindowSeconds: 60,
      },
    });
    assert.equal(alertDeadlineSeconds(slow), 15 + 30 + 60);
  });
});
