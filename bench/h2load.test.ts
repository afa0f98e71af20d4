import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseH2load } from './h2load.ts';

it('reads throughput, mean and slowest request time and errors from h2load', () => {
  const report = `starting benchmark...
spawning thread #0: 4 total client(s). Timing-based test with 1s of warm-up time and 5s of main duration for measurements.
Warm-up started for thread #0.
Main benchmark duration is started for thread #0.

finished in 6.00s, 20480.40 req/s, 2.51MB/s
requests: 102402 total, 102430 started, 102402 done, 102400 succeeded, 2 failed, 0 errored, 1 timeout
status codes: 102400 2xx, 0 3xx, 0 4xx, 2 5xx
traffic: 12.56MB (13170000) total, 1.20MB (1260000) headers (space savings 93.00%), 10.00MB (10485760) data
                     min         max         mean         sd        +/- sd
time for request:      212us     12.30ms      1.56ms       501us    81.00%
`;
  assert.deepEqual(parseH2load(report), {
    requestsPerSecond: 20480.4,
    p50Ms: 1.56,
    p99Ms: 12.3,
    requests: 102402,
    errors: 2,
  });
  assert.throws(() => parseH2load('connect failed'), /cannot read h2load/);
});
