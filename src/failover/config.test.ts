import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { buildModel } from '../model/build.ts';
import { parseConfigText } from '../model/load.ts';
import { parseManagerConfig, renderManagerConfig } from './config.ts';

test('the manager rebuilds exactly the model up had, hosts removed and added included', () => {
  const model = buildModel({
    lab: { name: 'fbx', stateDir: '/tmp/fbx' },
    networks: { edge: { subnet: '10.99.1.0/24' }, core: { subnet: '10.99.2.0/24' } },
    hosts: { 'db-03': { roles: ['db'], core: 33 }, 'web-02': null },
    failover: { antiFlapSeconds: 60 },
  });
  const parsed = parseManagerConfig(renderManagerConfig('mon', model), 'x.json');
  assert.equal(parsed.host, 'mon');
  assert.deepEqual(parsed.model, model);
});

test('on machines too: the SSH destinations and given addresses travel with it', () => {
  const text = readFileSync(new URL('../../examples/machines.yaml', import.meta.url), 'utf8');
  const model = buildModel(parseConfigText(text, 'examples/machines.yaml'));
  assert.equal(model.platform.kind, 'machines');
  assert.deepEqual(parseManagerConfig(renderManagerConfig('mon', model), 'x.json').model, model);
});
