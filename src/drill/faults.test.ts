import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildModel } from '../model/build.ts';
import { faultCatalog, selectFaults } from './faults.ts';

describe('faultCatalog', () => {
  it('offers every fault of the default topology, by host or database role', () => {
    const catalog = faultCatalog(buildModel({}));
    assert.deepEqual(
      catalog.map((f) => `${f.name} ${f.goal}`),
      [
        'lb-01:haproxy-killed idempotent',
        'lb-01:host-silenced idempotent',
        'lb-02:haproxy-killed idempotent',
        'lb-02:host-silenced idempotent',
        'web-01:app-killed idempotent',
        'web-01:nginx-killed idempotent',
        'web-01:host-silenced idempotent',
        'web-02:app-killed idempotent',
        'web-02:nginx-killed idempotent',
        'web-02:host-silenced idempotent',
        'db-primary:mariadb-killed writes',
        'db-primary:host-silenced writes',
        'db-primary:partitioned-from-web writes',
        'db-replica:mariadb-killed writes',
        'dns:nsd-killed resolution',
        'dns-02:nsd-killed resolution',
        'mon:host-silenced unaffected',
      ],
    );
  });

  it('follows the topology: a third web server and a second DNS server bring their faults', () => {
    const names = faultCatalog(
      buildModel({
        hosts: { 'web-03': { roles: ['web'], core: 23 }, 'dns-02': { roles: ['dns'], edge: 54 } },
      }),
    ).map((f) => f.name);
    for (const name of ['web-03:app-killed', 'web-03:nginx-killed', 'web-03:host-silenced'])
      assert.ok(names.includes(name), name);
    assert.ok(names.includes('dns-02:nsd-killed'));
  });

  it('has no replica fault with one database server', () => {
    const names = faultCatalog(buildModel({ hosts: { 'db-02': null } })).map((f) => f.name);
    assert.ok(names.includes('db-primary:mariadb-killed'));
    assert.ok(!names.some((n) => n.startsWith('db-replica')));
  });
});

describe('selectFaults', () => {
  const catalog = faultCatalog(buildModel({}));

  it('is the whole matrix without names, and the named faults in their order otherwise', () => {
    assert.equal(selectFaults(catalog, []).length, catalog.length);
    assert.deepEqual(
      selectFaults(catalog, ['web-01:host-silenced', 'lb-01:haproxy-killed']).map((f) => f.name),
      ['web-01:host-silenced', 'lb-01:haproxy-killed'],
    );
  });

  it('names the unknown faults and where to find the known ones', () => {
    assert.throws(
      () => selectFaults(catalog, ['web-09:app-killed']),
      /no fault "web-09:app-killed" in this lab \(foobar drill --list shows them\)/,
    );
  });
});
