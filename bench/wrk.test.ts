import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseWrk } from './wrk.ts';

it('reads throughput, latency percentiles and errors from wrk --latency', () => {
  const report = `Running 5s test @ http://10.80.1.11/api/whoami
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.31ms  414.52us  12.01ms   88.77%
    Req/Sec    12.41k   701.19    13.58k    72.00%
  Latency Distribution
     50%    1.24ms
     75%    1.43ms
     90%    1.71ms
     99%  850.00us
  123456 requests in 5.00s, 30.02MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  24691.23
Transfer/sec:      6.00MB
`;
  assert.deepEqual(parseWrk(report), {
    requestsPerSecond: 24691.23,
    p50Ms: 1.24,
    p99Ms: 0.85,
    requests: 123456,
    errors: 6,
    errorKinds: 'read 2, timeout 1, non-2xx 3',
  });
});

it('reads a latency in seconds, which wrk pads with a space', () => {
  const report = `Running 5s test @ https://www.foobar.com/api/whoami
  2 threads and 32 connections
  Latency Distribution
     50%  211.63ms
     75%  500.18ms
     90%  863.76ms
     99%    1.40s 
  444 requests in 5.07s, 266.17KB read
Requests/sec:     87.56
`;
  assert.deepEqual(parseWrk(report), {
    requestsPerSecond: 87.56,
    p50Ms: 211.63,
    p99Ms: 1400,
    requests: 444,
    errors: 0,
  });
});
