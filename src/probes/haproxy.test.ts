import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseStatsCsv } from './haproxy.ts';

it('reads the web servers and their status from HAProxy stats CSV', () => {
  const csv = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight',
    'www,FRONTEND,,,0,1,20000,3,0,0,0,0,0,,,,,OPEN,',
    'web,web-01,0,0,3,1,,2,0,0,,0,,0,0,1,2,UP,1',
    'web,web-02,0,0,0,1,,1,0,0,,0,,0,0,0,0,DOWN 1/2,1',
    'web,BACKEND,0,0,0,1,2000,3,0,0,0,0,,0,0,0,0,UP,2',
  ].join('\n');
  assert.deepEqual(parseStatsCsv(csv, 'web'), [
    { name: 'web-01', status: 'UP', up: true, sessions: 3, total: 2, retried: 3 },
    { name: 'web-02', status: 'DOWN 1/2', up: false, sessions: 0, total: 1, retried: 0 },
  ]);
});
