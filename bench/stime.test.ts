import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseStime, stime } from './stime.ts';

// Two processes' reports as OpenSSL 3.0's s_time prints them (-reuse, 5 s).
const REPORTS = `Collecting connection statistics for 5 seconds
tttttttttttttttt

2198 connections in 0.71s; 3095.77 connections/user sec, bytes read 0
2198 connections in 6 real seconds, 0 bytes read per connection

Now timing with session id reuse.
1802 connections in 0.66s; 2730.30 connections/user sec, bytes read 0
1802 connections in 5 real seconds, 0 bytes read per connection
`;

it('sums every process’s connections over the seconds they ran', () => {
  assert.deepEqual(parseStime(REPORTS, 2, 5), {
    requestsPerSecond: 800,
    p50Ms: 0,
    p99Ms: 0,
    requests: 4000,
    errors: 0,
  });
});

it('is an error when a process did not report (it failed)', () => {
  assert.throws(() => parseStime(REPORTS, 3, 5), /2 of 3 processes reported/);
});

it('runs the processes at once, resuming or not', () => {
  const command = stime('10.0.0.1:443', {
    seconds: 5,
    processes: 8,
    resume: true,
  });
  assert.deepEqual(command.argv.slice(4), ['8', '10.0.0.1:443', '-reuse', '5']);
});

// One process's report with -www: each connection read its answer.
const WWW = `413 connections in 0.38s; 1086.84 connections/user sec, bytes read 423325
413 connections in 4 real seconds, 1025 bytes read per connection
`;

it('asks each connection for a page when given one', () => {
  const command = stime('10.0.0.1:443', {
    seconds: 5,
    processes: 8,
    resume: false,
    www: '/static/r1/app.css',
  });
  assert.match(command.argv[2] ?? '', /-time "\$4" -www "\$5" &/);
  assert.deepEqual(command.argv.slice(4), ['8', '10.0.0.1:443', '-new', '5', '/static/r1/app.css']);
  assert.equal(parseStime(WWW, 1, 4, true).requests, 413);
});

it('is an error when a page was asked for and none was read', () => {
  assert.throws(() => parseStime(REPORTS, 2, 5, true), /read no answer/);
  assert.doesNotThrow(() => parseStime(REPORTS, 2, 5));
});
