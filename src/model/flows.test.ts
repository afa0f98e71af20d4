import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildModel } from './build.ts';
import {
  concreteFlows,
  flowsOf,
  flowsInto,
  flowsOutOf,
  sourceAddresses,
  standsForInternet,
} from './flows.ts';

describe('flows, in both directions', () => {
  const model = buildModel(undefined);
  const flows = concreteFlows(model);
  const opened = (from: string): string[] =>
    [...new Set(flows.filter((f) => f.from === from).map((f) => `${f.port}/${f.proto}`))].sort();

  it('lets a web server open the databases only', () => {
    assert.deepEqual(opened('web-01'), ['3306/tcp']);
    assert.deepEqual(
      [...new Set(flows.filter((f) => f.from === 'web-01').map((f) => f.to))],
      ['db-01', 'db-02'],
    );
  });

  it('lets a database server open its peers and the backup host’s stream only, the DNS servers nothing', () => {
    assert.deepEqual(
      flows.filter((f) => f.from === 'db-01').map((f) => `${f.to}:${f.port}`),
      ['db-02:3306', 'backup:9400'],
    );
    assert.deepEqual(
      flows.filter((f) => f.from === 'backup').map((f) => `${f.to}:${f.port}`),
      ['db-01:3306', 'db-02:3306'],
    );
    assert.deepEqual(opened('dns'), []);
  });

  it('gives the internet’s flows to the client and this machine, not to servers on the edge', () => {
    assert.deepEqual(opened('client'), ['443/tcp', '53/tcp', '53/udp', '80/tcp']);
    assert.ok(!flows.some((f) => f.from === 'lb-01' && f.port === 53));
    // The monitor asks DNS over UDP and the load balancers' HTTPS, as its prober does.
    const mon = flows.filter((f) => f.from === 'mon' && (f.port === 53 || f.port === 443));
    assert.deepEqual(
      [...new Set(mon.map((f) => `${f.to}:${f.port}/${f.proto}`))],
      ['dns:53/udp', 'dns-02:53/udp', 'lb-01:443/tcp', 'lb-02:443/tcp'],
    );
  });

  it('opens no output that the destination’s input would not admit', () => {
    for (const host of model.hosts.filter((h) => !standsForInternet(h))) {
      for (const { flow, addresses } of flowsOutOf(model, host)) {
        const from = host.addresses[flow.network];
        assert.ok(from !== undefined);
        for (const address of addresses) {
          const admitted = model.hosts.some((dst) =>
            flowsInto(model, dst).some((into) => {
              if (into.flow !== flow) return false;
              const sources = sourceAddresses(model, flow);
              const virtual = flow.virtual === true && address !== into.address;
              return (
                (virtual || into.address === address) &&
                (sources === 'any' || sources.includes(from))
              );
            }),
          );
          assert.ok(admitted, `${host.name} → ${address}: ${flow.from} → ${flow.to} ${flow.why}`);
        }
      }
    }
  });
});

describe("the admin's SSH", () => {
  it('is a flow on machines to every server, on the edge from admin.edge, to those with no edge address on the core from admin.core; the lab has none', async () => {
    const { parseConfigText } = await import('./load.ts');
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../../examples/machines.yaml', import.meta.url), 'utf8');
    const machines = buildModel(parseConfigText(text, 'examples/machines.yaml'));
    const ssh = concreteFlows(machines).filter((f) => f.port === machines.ports.ssh);
    // A host of two roles (lb and dns) gets the flow once per role.
    assert.deepEqual(
      [
        ...new Set(
          ssh.filter((f) => f.from === 'admin').map((f) => `${f.from}→${f.to} ${f.address}`),
        ),
      ].sort(),
      [
        ...machines.hosts
          .filter((h) => !standsForInternet(h))
          .map((h) => `admin→${h.name} ${h.addresses.edge ?? h.addresses.core ?? ''}`),
        // The backup role is reached on the core (its network), also on a host with an edge
        // address (the example's mon).
        ...machines.hosts
          .filter((h) => h.roles.includes('backup') && h.addresses.edge !== undefined)
          .map((h) => `admin→${h.name} ${h.addresses.core ?? ''}`),
      ].sort(),
    );
    // The failover managers' own SSH: from each member to the hosts they act on, on the core.
    const members = machines.hosts.filter((h) => h.roles.includes('lb') || h.roles.includes('mon'));
    const acted = machines.hosts.filter((h) =>
      h.roles.some((r) => r === 'db' || r === 'web' || r === 'lb' || r === 'mon'),
    );
    assert.deepEqual(
      [
        ...new Set(
          ssh.filter((f) => f.from !== 'admin').map((f) => `${f.from}→${f.to} ${f.address}`),
        ),
      ].sort(),
      members
        .flatMap((m) =>
          acted.filter((h) => h !== m).map((h) => `${m.name}→${h.name} ${h.addresses.core ?? ''}`),
        )
        .sort(),
    );
    for (const flow of flowsOf(machines).filter(
      (f) => 'port' in f && f.port === 'ssh' && f.from === 'admin',
    )) {
      assert.deepEqual(sourceAddresses(machines, flow), [
        flow.network === 'edge' ? '198.51.100.7' : '10.0.0.11',
      ]);
    }
    const lab = buildModel(undefined);
    assert.deepEqual(
      concreteFlows(lab).filter((f) => f.port === lab.ports.ssh),
      [],
    );
  });
});
