import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseListeners } from './ss.ts';

it('names the processes listening on a port, once each', () => {
  const output =
    'LISTEN 0      4096   0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=9703,fd=6),("nginx",pid=9702,fd=6),("nginx",pid=9703,fd=7))\n';
  assert.deepEqual(parseListeners(output), [
    { pid: 9703, program: 'nginx' },
    { pid: 9702, program: 'nginx' },
  ]);
  assert.deepEqual(parseListeners(''), []);
});
