import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseLastReceived, parseListeners } from './ss.ts';

it('names the processes listening on a port, once each', () => {
  const output =
    'LISTEN 0      4096   0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=9703,fd=6),("nginx",pid=9702,fd=6),("nginx",pid=9703,fd=7))\n';
  assert.deepEqual(parseListeners(output), [
    { pid: 9703, program: 'nginx' },
    { pid: 9702, program: 'nginx' },
  ]);
  assert.deepEqual(parseListeners(''), []);
});

it('reads how long ago each connection last received data, most recent first', () => {
  // Two connections as `ss -H -t -n -i` prints them on Debian 12 (each: a line, then its counters).
  const output = [
    'ESTAB 0 0 10.77.2.31:42462 10.77.2.32:3306',
    '\t ts sack bbr wscale:10,10 rto:208 rtt:5.675/10.856 bytes_received:959 lastsnd:820 lastrcv:820 lastack:776 app_limited',
    'ESTAB 0 0 10.77.2.31:42470 10.77.2.32:3306',
    '\t ts sack bbr rto:204 lastsnd:12 lastrcv:12 lastack:12',
  ].join('\n');
  assert.deepEqual(parseLastReceived(output), [12, 820]);
  assert.deepEqual(parseLastReceived(''), []);
});
