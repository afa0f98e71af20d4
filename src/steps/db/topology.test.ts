import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseTopology } from '../../../app/src/db/topology.ts';
import { RecordingDriver } from '../../drivers/recording.ts';
import { buildModel } from '../../model/build.ts';
import { createContext } from '../context.ts';
import { appTopology } from './topology.ts';

it('tells the app the primary and the replicas that are not fenced, and the names their certificates carry, in a shape it reads', () => {
  const model = buildModel({ hosts: { 'db-03': { roles: ['db'], core: 33 } } });
  const ctx = createContext(model, new RecordingDriver());
  const topology = appTopology(ctx, { primary: 'db-02', fenced: ['db-01'], epoch: 3, history: [] });
  assert.deepEqual(parseTopology(JSON.stringify(topology)), {
    epoch: 3,
    schema: 'foobar',
    user: 'foobar_app',
    primary: { name: 'db-02', host: '10.77.2.32', port: 3306, tlsName: 'db-02.core.foobar.com' },
    replicas: [{ name: 'db-03', host: '10.77.2.33', port: 3306, tlsName: 'db-03.core.foobar.com' }],
  });
  const withCa = { ...topology, ca: '/etc/foobar/tls/ca.crt' };
  assert.equal(parseTopology(JSON.stringify(withCa)).ca, '/etc/foobar/tls/ca.crt');
  assert.throws(() => parseTopology(JSON.stringify({ ...topology, ca: 3 })), /ca: expected/);
});
