import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupTargets } from './backup.ts';
import { buildModel } from './build.ts';
import { FAILOVER_ROLES, failoverMembers, managedHosts } from './failover.ts';
import { exampleModel } from './examples-testing.ts';
import {
  concreteFlows,
  flowsOf,
  flowsInto,
  flowsOutOf,
  outsideNeeds,
  sourceAddresses,
  standsForInternet,
} from './flows.ts';
import { sharedState } from './layout.ts';
import { parseConfigText } from './load.ts';
import type { Model } from './model.ts';

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

/** Machines without a monitor: the given hosts' lines, the site test's networks and addresses. */
function withoutMonitor(hosts: readonly string[], what: string): Model {
  return buildModel(
    parseConfigText(
      [
        'platform: machines',
        'machines: { name: nomon, stateDir: /var/lib/foobar/machines/nomon, resolvers: [], timeServers: [], mirrors: [] }',
        'networks: { edge: { subnet: 203.0.113.0/24 }, core: { subnet: 10.0.0.0/24 } }',
        'admin: { edge: 198.51.100.7, core: 10.0.0.1 }',
        'hosts:',
        ...hosts.map((line) => `  ${line}`),
        'vrrp: { virtualAddresses: { lb-01: 203.0.113.10, lb-02: 203.0.113.20 } }',
      ].join('\n'),
      what,
    ),
  );
}

describe("the backup agent's SSH", () => {
  /** The site test's machines with no monitor: lb-01, first by name, keeps database.json. */
  const withoutMon = (): Model =>
    withoutMonitor(
      [
        'lb-01: { roles: [lb, dns], ssh: { host: 203.0.113.11 }, edge: 203.0.113.11, core: 10.0.0.11 }',
        'lb-02: { roles: [lb, dns], ssh: { host: 203.0.113.12 }, edge: 203.0.113.12, core: 10.0.0.12 }',
        'web-01: { roles: [web, db], ssh: { host: 10.0.0.21 }, core: 10.0.0.21 }',
        'web-02: { roles: [web, db, backup], ssh: { host: 10.0.0.22 }, core: 10.0.0.22 }',
      ],
      'a deployment without a monitor',
    );

  /** Where the backup host's SSH flows end, and the hosts that admit them from its core address. */
  const ssh = (model: Model): { out: string[]; admitted: string[] } => {
    const backup = model.hosts.find((h) => h.roles.includes('backup'));
    assert.ok(backup !== undefined);
    const flows = flowsOf(model).filter(
      (f) => f.from === 'backup' && 'port' in f && f.port === 'ssh',
    );
    const out = flowsOutOf(model, backup)
      .filter(({ flow }) => flows.includes(flow))
      .flatMap(({ addresses }) => addresses);
    const admitted = model.hosts
      .filter((host) =>
        flowsInto(model, host).some(
          ({ flow }) =>
            flows.includes(flow) &&
            sourceAddresses(model, flow).includes(backup.addresses.core ?? ''),
        ),
      )
      .map((h) => h.name);
    return { out: [...new Set(out)].sort(), admitted: [...new Set(admitted)].sort() };
  };

  it('reaches the host that keeps database.json: the monitor, or without one the first machine', () => {
    const model = withoutMon();
    assert.ok(!model.hosts.some((h) => h.roles.includes('mon')));
    const shared = sharedState(model).host;
    assert.equal(shared, 'lb-01', 'without a monitor the first machine by name keeps it');
    const { out, admitted } = ssh(model);
    assert.deepEqual(admitted, ['lb-01', 'web-01', 'web-02']);
    assert.deepEqual(out, ['10.0.0.11', '10.0.0.21']);
    // The hosts its key is authorized on (steps/backup-access.ts) are the ones that admit it.
    assert.deepEqual(
      backupTargets(model)
        .map((h) => h.name)
        .sort(),
      admitted,
    );

    const example = exampleModel('machines');
    assert.equal(sharedState(example).host, 'mon');
    assert.deepEqual(ssh(example).admitted, ['db-01', 'db-02', 'mon']);
    assert.deepEqual(
      backupTargets(example)
        .map((h) => h.name)
        .sort(),
      ssh(example).admitted,
    );
  });
});

describe("the failover managers' SSH", () => {
  /** Machines without a monitor whose first machine by name serves DNS only. */
  const dnsFirst = (): Model =>
    withoutMonitor(
      [
        'dns-01: { roles: [dns], ssh: { host: 203.0.113.53 }, edge: 203.0.113.53, core: 10.0.0.53 }',
        'lb-01: { roles: [lb, dns], ssh: { host: 203.0.113.11 }, edge: 203.0.113.11, core: 10.0.0.11 }',
        'lb-02: { roles: [lb], ssh: { host: 203.0.113.12 }, edge: 203.0.113.12, core: 10.0.0.12 }',
        'web-01: { roles: [web, db], ssh: { host: 10.0.0.21 }, core: 10.0.0.21 }',
        'web-02: { roles: [web, db], ssh: { host: 10.0.0.22 }, core: 10.0.0.22 }',
      ],
      'a deployment without a monitor, DNS first',
    );

  /** The hosts that admit a manager's SSH from every manager's core address. */
  const admitted = (model: Model): string[] => {
    const managers = failoverMembers(model).map((h) => h.addresses.core ?? '');
    const flows = flowsOf(model).filter(
      (f) => FAILOVER_ROLES.some((r) => r === f.from) && 'port' in f && f.port === 'ssh',
    );
    return model.hosts
      .filter((host) => {
        const into = flowsInto(model, host).filter(({ flow }) => flows.includes(flow));
        return managers.every((a) =>
          into.some(({ flow }) => sourceAddresses(model, flow).includes(a)),
        );
      })
      .map((h) => h.name)
      .sort();
  };
  const names = (hosts: readonly { name: string }[]): string[] => hosts.map((h) => h.name).sort();

  it('reach the host that keeps database.json whatever its roles, and their key is authorized where they are admitted', () => {
    const model = dnsFirst();
    assert.equal(sharedState(model).host, 'dns-01', 'without a monitor the first machine keeps it');
    assert.deepEqual(admitted(model), ['dns-01', 'lb-01', 'lb-02', 'web-01', 'web-02']);
    assert.deepEqual(names(managedHosts(model)), admitted(model));

    const example = exampleModel('machines');
    assert.equal(sharedState(example).host, 'mon');
    assert.deepEqual(admitted(example), [
      'db-01',
      'db-02',
      'lb-01',
      'lb-02',
      'mon',
      'web-01',
      'web-02',
    ]);
    assert.deepEqual(names(managedHosts(example)), admitted(example));
  });
});

describe('what a host needs outside the site', () => {
  it('is nothing in the lab: no host resolves, keeps time or installs a package there', () => {
    const lab = buildModel(undefined);
    for (const host of lab.hosts) assert.deepEqual(outsideNeeds(lab, host), [], host.name);
  });

  it('is, on machines, every server’s resolvers, time servers and mirrors as the model names them; not the internet’s', () => {
    const example = exampleModel('machines');
    for (const host of example.hosts) {
      assert.deepEqual(
        outsideNeeds(example, host),
        [
          { need: 'resolvers', addresses: ['198.51.100.53', '198.51.100.54'] },
          { need: 'timeServers', addresses: ['198.51.100.123'] },
          { need: 'mirrors', addresses: ['192.0.2.0/28'] },
        ],
        host.name,
      );
    }
    // A list left empty opens nothing; a host that stands for the internet keeps an open output.
    const given = example.given as Record<string, unknown>;
    const visited = buildModel({
      ...given,
      machines: { resolvers: ['198.51.100.53'], timeServers: [], mirrors: [] },
      hosts: {
        ...(given.hosts as Record<string, unknown>),
        visitor: { roles: ['client'], ssh: { host: '203.0.113.100' }, edge: '203.0.113.100' },
      },
    });
    const web = visited.hosts.find((h) => h.name === 'web-01');
    const visitor = visited.hosts.find((h) => h.name === 'visitor');
    assert.ok(web !== undefined && visitor !== undefined);
    assert.deepEqual(outsideNeeds(visited, web), [
      { need: 'resolvers', addresses: ['198.51.100.53'] },
    ]);
    assert.deepEqual(outsideNeeds(visited, visitor), []);
    // Outside the site, so no pair of the reachability matrix (between the site's addresses) changes.
    assert.deepEqual(
      concreteFlows(visited),
      concreteFlows(buildModel({ ...given, hosts: visited.given.hosts })),
    );
  });
});
