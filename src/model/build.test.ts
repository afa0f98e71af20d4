import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { buildModel, ConfigError } from './build.ts';
import { parseConfigText } from './load.ts';
import { hostsWithRole } from './model.ts';

function problemsOf(input: unknown): string[] {
  try {
    buildModel(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('expected a ConfigError');
}

describe('buildModel', () => {
  it('gives the default lab of DESIGN §3 without a config', () => {
    const model = buildModel(undefined);
    assert.equal(model.lab.name, 'fb');
    assert.equal(model.lab.stateDir, '/var/lib/foobar/fb');
    assert.equal(model.admin.edge, '10.77.1.1');
    const lb = model.hosts.find((h) => h.name === 'lb-01');
    assert.deepEqual(lb?.addresses, { edge: '10.77.1.11', core: '10.77.2.11' });
    assert.deepEqual(
      hostsWithRole(model, 'web').map((h) => [h.name, h.addresses.core, h.addresses.edge]),
      [
        ['web-01', '10.77.2.21', undefined],
        ['web-02', '10.77.2.22', undefined],
      ],
    );
    assert.equal(model.database.initialPrimary, 'db-01');
    // The lab's buffer pool is sized for the guestbook.
    assert.equal(model.database.bufferPoolMb, 16);
  });

  it('parses the annotated example, which adds a third web server', () => {
    const text = readFileSync(new URL('../../examples/foobar.yaml', import.meta.url), 'utf8');
    const model = buildModel(parseConfigText(text, 'examples/foobar.yaml'));
    assert.deepEqual(
      hostsWithRole(model, 'web').map((h) => h.addresses.core),
      ['10.77.2.21', '10.77.2.22', '10.77.2.23'],
    );
  });

  it('moves every address with its subnet and removes hosts set to null', () => {
    const model = buildModel({
      networks: { edge: { subnet: '10.99.1.0/24' }, core: { subnet: '10.99.2.0/24' } },
      hosts: { 'db-02': null },
    });
    assert.equal(model.admin.edge, '10.99.1.1');
    assert.equal(model.hosts.find((h) => h.name === 'web-02')?.addresses.core, '10.99.2.22');
    assert.equal(
      model.hosts.some((h) => h.name === 'db-02'),
      false,
    );
  });

  it('reports every schema problem at once, with its key path', () => {
    assert.deepEqual(
      problemsOf({
        hosts: { 'db-02': { roles: ['replica'], core: 32 } },
        lb: { fall: 0 },
        colour: 'red',
      }),
      [
        'hosts/db-02/roles/0: expected one of client, dns, lb, web, db, mon, backup',
        'lb/fall: Too small: expected number to be >=1',
        ': Unrecognized key: "colour"',
      ],
    );
  });

  it('reports every semantic problem at once', () => {
    assert.deepEqual(
      problemsOf({
        networks: { core: { subnet: '10.77.1.128/25' } },
        hosts: {
          'web-01': { roles: ['web'], core: 21, edge: 21 },
          'web-02': { roles: ['web'], core: 200 },
          'lb-02': { roles: ['lb'], edge: 11, core: 12 },
        },
        ports: { https: 80 },
        database: { primary: 'web-01' },
      }),
      [
        'networks/core/subnet: 10.77.1.128/25 overlaps the edge network 10.77.1.0/24',
        "hosts/lb-02/edge: 10.77.1.11 is already lb-01's address",
        'hosts/web-01/edge: a web host must not be on the edge network',
        'hosts/web-02/core: 200 does not fit in 10.77.1.128/25',
        'ports/https: 80 is already the http port',
        'database/primary: "web-01" is not a host with the db role (those are: db-01, db-02)',
      ],
    );
  });

  it('gives the edge its limits, overridable key by key', () => {
    const model = buildModel({ limits: { maxBodyBytes: 2048, rateLimit: { requests: 10 } } });
    assert.deepEqual(model.limits, {
      requestTimeoutSeconds: 5,
      maxBodyBytes: 2048,
      maxUrlBytes: 8192,
      maxHeaders: 100,
      rateLimit: { requests: 10, periodSeconds: 10, exempt: ['client'] },
    });
    assert.equal(model.dns.ttlSeconds, 30);
    // The default exempts the lab's client only where there is one.
    const noClient = buildModel({ hosts: { client: null } });
    assert.deepEqual(noClient.limits.rateLimit.exempt, []);
  });

  it('exempts from the rate limit only hosts clients can be: on the edge network', () => {
    assert.deepEqual(
      problemsOf({ limits: { rateLimit: { exempt: ['client', 'web-01', 'nope'] } } }),
      [
        'limits/rateLimit/exempt/1: "web-01" is not a host on the edge network, where clients come from',
        'limits/rateLimit/exempt/2: "nope" is not a host on the edge network, where clients come from',
      ],
    );
  });

  it('gives the database tier its defaults, and takes overrides', () => {
    const model = buildModel({ database: { primary: 'db-02', semiSyncTimeoutMs: 5000 } });
    assert.deepEqual(model.database, {
      initialPrimary: 'db-02',
      schema: 'foobar',
      semiSyncTimeoutMs: 5000,
      heartbeatMs: 250,
      readYourWritesWaitMs: 500,
      bufferPoolMb: 16,
    });
    assert.equal(buildModel({ database: { bufferPoolMb: 256 } }).database.bufferPoolMb, 256);
    assert.deepEqual(problemsOf({ database: { bufferPoolMb: 1 } }), [
      'database/bufferPoolMb: Too small: expected number to be >=2',
    ]);
    assert.deepEqual(problemsOf({ hosts: { 'db-01': null, 'db-02': null } }), [
      'hosts: at least one host needs the db role',
    ]);
  });

  it('refuses an app keep-alive shorter than Nginx keeps upstream connections', () => {
    assert.deepEqual(problemsOf({ app: { keepAliveTimeoutSeconds: 30 } }), [
      'app/keepAliveTimeoutSeconds: must be longer than web/upstreamKeepaliveSeconds (60), or Nginx reuses connections the app has closed',
    ]);
  });

  it('takes an ACME CA for the site certificate, and names every problem of tls.acme at once', () => {
    const acme = { directory: 'https://acme.example/dir', email: 'ops@foobar.com' };
    assert.deepEqual(buildModel({ tls: { acme } }).tls, { hstsMaxAgeSeconds: 63072000, acme });
    assert.equal(buildModel(undefined).tls.acme, undefined);
    assert.deepEqual(
      problemsOf({
        tls: {
          acme: {
            directory: 'http://acme.example/dir',
            email: 'ops',
            caBundle: 'ca.pem',
            other: 1,
          },
        },
      }),
      [
        'tls/acme/directory: expected the https URL of an ACME directory',
        'tls/acme/email: expected an email address',
        'tls/acme/caBundle: expected an absolute path',
        'tls/acme: Unrecognized key: "other"',
      ],
    );
  });

  it('refuses monitoring settings that cannot work', () => {
    assert.deepEqual(
      problemsOf({
        monitoring: {
          scrapeIntervalSeconds: 10,
          rateWindowSeconds: 20,
          certificateWarningDays: 3,
          certificateCriticalDays: 3,
        },
      }),
      [
        'monitoring/rateWindowSeconds: must be at least 4 scrape intervals (40), or rates have too few samples',
        'monitoring/certificateCriticalDays: must be fewer than monitoring/certificateWarningDays (3)',
      ],
    );
  });

  it('names the file in the error message', () => {
    assert.throws(() => buildModel({ domain: 'nope' }, '/etc/foobar.yaml'), {
      message: '/etc/foobar.yaml has a problem:\n  domain: expected a domain like foobar.com',
    });
  });

  it('reports YAML syntax errors', () => {
    assert.throws(() => parseConfigText('hosts: [\n', 'x.yaml'), /x.yaml has a problem/);
  });

  it('gives each load balancer a virtual address on the edge, overridable and removable by name', () => {
    const model = buildModel(undefined);
    assert.deepEqual(model.vrrp.virtualAddresses, [
      { address: '10.77.1.10', owner: 'lb-01', routerId: 1 },
      { address: '10.77.1.20', owner: 'lb-02', routerId: 2 },
    ]);
    const other = buildModel({
      hosts: { 'lb-03': { roles: ['lb'], edge: 13, core: 13 } },
      vrrp: { virtualAddresses: { 'lb-02': null, 'lb-03': 30 }, advertIntervalMs: 500 },
    });
    assert.deepEqual(
      other.vrrp.virtualAddresses.map((v) => `${v.owner} ${v.address}`),
      ['lb-01 10.77.1.10', 'lb-03 10.77.1.30'],
    );
    assert.equal(other.vrrp.advertIntervalMs, 500);
  });

  it('refuses virtual addresses that cannot work, all at once', () => {
    assert.deepEqual(
      problemsOf({
        vrrp: { virtualAddresses: { 'web-01': 30, 'lb-02': 11 }, advertIntervalMs: 205 },
      }),
      ['vrrp/advertIntervalMs: expected a multiple of 10 (VRRPv3 counts in centiseconds)'],
    );
    assert.deepEqual(problemsOf({ vrrp: { virtualAddresses: { 'web-01': 30, 'lb-02': 11 } } }), [
      "vrrp/virtualAddresses/lb-02: 10.77.1.11 is already lb-01's address",
      'vrrp/virtualAddresses/web-01: "web-01" is not a load balancer (those are: lb-01, lb-02): name one, or set it to null',
    ]);
    assert.deepEqual(problemsOf({ vrrp: { virtualAddresses: { 'lb-01': null, 'lb-02': null } } }), [
      'vrrp/virtualAddresses: DNS needs at least one virtual address: give a load balancer one (e.g. vrrp/virtualAddresses/lb-01: 10)',
    ]);
  });
});

describe('buildModel for machines', () => {
  const machine = (ssh: string, core: string, edge?: string) => ({
    ssh: { host: ssh },
    core,
    ...(edge === undefined ? {} : { edge }),
  });
  /** The smallest site on machines: a load balancer, a web server and a database server. */
  const small = {
    platform: 'machines',
    machines: { resolvers: ['198.51.100.53'], timeServers: [], mirrors: ['192.0.2.0/28'] },
    networks: { edge: { subnet: '203.0.113.0/24' }, core: { subnet: '10.0.0.0/24' } },
    admin: { edge: '198.51.100.7', core: '10.0.0.11' },
    hosts: {
      lb: { roles: ['lb'], ...machine('lb.example.net', '10.0.0.11', '203.0.113.11') },
      web: { roles: ['web'], ...machine('10.0.0.21', '10.0.0.21') },
      db: { roles: ['db'], ...machine('10.0.0.31', '10.0.0.31') },
    },
    vrrp: { virtualAddresses: { lb: '203.0.113.10' } },
  };

  it('parses the annotated example: given addresses, SSH destinations, shared defaults', () => {
    const text = readFileSync(new URL('../../examples/machines.yaml', import.meta.url), 'utf8');
    const model = buildModel(parseConfigText(text, 'examples/machines.yaml'));
    assert.equal(model.platform.kind, 'machines');
    assert.deepEqual(model.lab, { name: 'prod', stateDir: '/var/lib/foobar/machines/prod' });
    assert.ok(model.hosts.length >= 3);
    assert.deepEqual(
      model.hosts.map((h) => [h.name, h.addresses.edge, h.addresses.core]),
      [
        ['db-01', undefined, '10.0.0.31'],
        ['db-02', undefined, '10.0.0.32'],
        ['lb-01', '203.0.113.11', '10.0.0.11'],
        ['lb-02', '203.0.113.12', '10.0.0.12'],
        ['mon', '203.0.113.90', '10.0.0.90'],
        ['web-01', undefined, '10.0.0.21'],
        ['web-02', undefined, '10.0.0.22'],
      ],
    );
    assert.deepEqual(model.platform.ssh, {
      'lb-01': { host: '203.0.113.11', user: 'root', port: 22 },
      'lb-02': { host: '203.0.113.12', user: 'root', port: 22 },
      'web-01': { host: '10.0.0.21', user: 'root', port: 22 },
      'web-02': { host: '10.0.0.22', user: 'root', port: 22 },
      'db-01': { host: '10.0.0.31', user: 'root', port: 22 },
      'db-02': { host: '10.0.0.32', user: 'admin', port: 2222 },
      mon: { host: 'mon.example.net', user: 'root', port: 22 },
    });
    assert.deepEqual(model.admin, { edge: '198.51.100.7', core: '10.0.0.11' });
    assert.deepEqual(
      model.vrrp.virtualAddresses.map((v) => `${v.owner} ${v.address}`),
      ['lb-01 203.0.113.10', 'lb-02 203.0.113.20'],
    );
    // The rest of the model is the lab's: the same ports and tunables, overridable the same way.
    assert.deepEqual(model.ports, buildModel(undefined).ports);
    assert.equal(model.monitoring.scrapeIntervalSeconds, 15);
    assert.equal(model.database.initialPrimary, 'db-01');
    // A real server's buffer pool, not the lab's.
    assert.equal(model.database.bufferPoolMb, 64);
  });

  it('leaves user and port to the SSH config when neither the machine nor the defaults give them', () => {
    const model = buildModel(small);
    assert.deepEqual(model.platform, {
      kind: 'machines',
      ssh: {
        lb: { host: 'lb.example.net' },
        web: { host: '10.0.0.21' },
        db: { host: '10.0.0.31' },
      },
      outside: { resolvers: ['198.51.100.53'], timeServers: [], mirrors: ['192.0.2.0/28'] },
    });
    assert.equal(model.lab.stateDir, '/var/lib/foobar/machines/fb');
  });

  it('keeps the lab the default, with nothing of the machines in it', () => {
    assert.deepEqual(buildModel(undefined).platform, { kind: 'lab' });
    assert.deepEqual(buildModel({ platform: 'lab' }).platform, { kind: 'lab' });
    assert.deepEqual(problemsOf({ platform: 'cloud' }), [
      'platform: expected one of lab, machines (lab is the default)',
    ]);
  });

  it('reports every schema problem at once, with its key path', () => {
    assert.deepEqual(
      problemsOf({
        platform: 'machines',
        hosts: {
          lb: { roles: ['lb'], edge: 11, core: '10.0.0.300' },
          web: { roles: ['web'], ssh: { host: '-oProxyCommand=x', user: 'Root', port: 0 } },
        },
        vrrp: { virtualAddresses: { lb: 10 } },
      }),
      [
        'machines: expected {resolvers: [...], timeServers: [...], mirrors: [...]}: what every machine reaches outside the site for itself (its firewall refuses the rest)',
        'networks: expected the subnets of both networks: {edge: {subnet: ...}, core: {subnet: ...}}',
        'admin: expected the addresses your SSH and browser come from: {edge: 198.51.100.7, core: 10.0.0.11} (core: where SSH to the machines without an edge address arrives from)',
        'hosts/lb/ssh: expected the SSH destination, e.g. {host: 203.0.113.11, user: root}',
        'hosts/lb/edge: Invalid input: expected string, received number',
        'hosts/lb/core: expected an IPv4 address like 203.0.113.11',
        'hosts/web/ssh/host: expected a host name, an alias of your SSH config or an address (not starting with -)',
        'hosts/web/ssh/user: expected a login name like root or deploy (lowercase letters, digits, _ and -)',
        'hosts/web/ssh/port: Too small: expected number to be >=1',
        'vrrp/virtualAddresses/lb: Invalid input: expected string, received number',
      ],
    );
  });

  it('names what the machines reach outside the site: addresses or blocks, each list required', () => {
    assert.deepEqual(
      problemsOf({
        ...small,
        machines: { resolvers: ['198.51.100.53/33', '192.0.2.1/24', 'dns.example'], mirrors: 'x' },
      }),
      [
        'machines/resolvers/0: prefix /33 is out of range: use /8 to /32',
        'machines/resolvers/1: 192.0.2.1/24 has host bits set: did you mean 192.0.2.0/24?',
        'machines/resolvers/2: expected an address like 203.0.113.53 or a block like 203.0.113.0/24, got "dns.example"',
        "machines/timeServers: expected the NTP servers the machines' clocks follow as a list of addresses or blocks, e.g. [185.12.64.3] ([] for none: the machines' firewalls then refuse it)",
        "machines/mirrors: expected the package mirror apt-get downloads from as a list of addresses or blocks, e.g. [151.101.2.132/32] ([] for none: the machines' firewalls then refuse it)",
      ],
    );
    // The site's own addresses are reached by flows, never as an outside need.
    assert.deepEqual(
      problemsOf({
        ...small,
        machines: {
          resolvers: ['10.0.0.0/24'],
          timeServers: ['203.0.113.10'],
          mirrors: ['192.0.2.0/28', '192.0.2.0/32'],
        },
      }),
      [
        "machines/resolvers/0: 10.0.0.0/24 holds the site's own addresses (lb's 10.0.0.11, web's 10.0.0.21, db's 10.0.0.31): outside needs are outside the site",
        "machines/timeServers/0: 203.0.113.10 holds the site's own addresses (the virtual address of lb): outside needs are outside the site",
      ],
    );
    assert.deepEqual(
      buildModel({
        ...small,
        machines: { resolvers: ['198.51.100.53/32'], timeServers: [], mirrors: [] },
      }).platform,
      {
        ...buildModel(small).platform,
        outside: { resolvers: ['198.51.100.53'], timeServers: [], mirrors: [] },
      },
    );
  });

  it('reports every semantic problem at once: addresses are checked, never derived', () => {
    assert.deepEqual(
      problemsOf({
        ...small,
        admin: { edge: '198.51.100.7', core: '10.0.9.1' },
        hosts: {
          ...small.hosts,
          web: { roles: ['web'], ...machine('10.0.0.21', '10.0.1.21', '203.0.113.21') },
          db: { roles: ['db'], ...machine('lb.example.net', '10.0.0.11') },
          db2: { roles: ['db'], ...machine('10.0.0.32', '10.0.0.0') },
        },
        vrrp: { virtualAddresses: { lb: '203.0.113.11', web: '203.0.113.30' } },
      }),
      [
        "hosts/db/ssh: lb.example.net is already lb's SSH destination: one machine is one host (give it several roles)",
        'admin/core: 10.0.9.1 is not in the core network 10.0.0.0/24',
        'hosts/web/edge: a web host must not be on the edge network',
        'hosts/web/core: 10.0.1.21 is not in the core network 10.0.0.0/24',
        "hosts/db/core: 10.0.0.11 is already lb's address",
        'hosts/db2/core: 10.0.0.0 is the network or broadcast address of 10.0.0.0/24',
        "vrrp/virtualAddresses/lb: 203.0.113.11 is already lb's address",
        'vrrp/virtualAddresses/web: "web" is not a load balancer (those are: lb): name one, or set it to null',
      ],
    );
  });
});
