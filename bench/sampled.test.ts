import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addRows, byObject, formatSampled, parsePerfReport, type Sampled } from './sampled.ts';

// The head and first rows of `perf report --no-children -n --stdio --sort dso,sym` (perf 6.1),
// as it printed them for a HAProxy under wrk.
const REPORT = `# To display the perf.data header info, please use --header/--header-only options.
#
#
# Total Lost Samples: 0
#
# Samples: 10K of event 'cpu-clock'
# Event count (approx.): 2520250000
#
# Overhead       Samples  Shared Object      Symbol                                       
# ........  ............  .................  .............................................
#
    11.50%          1159  [kernel.kallsyms]  [k] finish_task_switch.isra.0
     3.27%           330  libc.so.6          [.] __memmove_avx512_unaligned_erms
     1.35%           136  haproxy            [.] process_stream
     0.41%            41  libcrypto.so.3     [.] 0x000000000033fb68
     0.01%             1  haproxy            [.] operator new (unsigned long)


#
# (Tip: For a higher level overview, try: perf report --sort comm,dso)
#
`;

describe('perf samples', () => {
  it('reads each row of a report, and nothing of its comments', () => {
    assert.deepEqual(parsePerfReport(REPORT), [
      { object: '[kernel.kallsyms]', symbol: 'finish_task_switch.isra.0', samples: 1159 },
      { object: 'libc.so.6', symbol: '__memmove_avx512_unaligned_erms', samples: 330 },
      { object: 'haproxy', symbol: 'process_stream', samples: 136 },
      { object: 'libcrypto.so.3', symbol: '0x000000000033fb68', samples: 41 },
      { object: 'haproxy', symbol: 'operator new (unsigned long)', samples: 1 },
    ]);
  });

  it('sums rounds by object and function', () => {
    const one = [{ object: 'haproxy', symbol: 'a', samples: 3 }];
    const two = [
      { object: 'haproxy', symbol: 'a', samples: 4 },
      { object: 'libc.so.6', symbol: 'a', samples: 1 },
    ];
    assert.deepEqual(addRows(one, two), [
      { object: 'haproxy', symbol: 'a', samples: 7 },
      { object: 'libc.so.6', symbol: 'a', samples: 1 },
    ]);
  });

  // 1,000 requests; a sample is 250 µs of CPU, so 4 samples make 1 µs a request.
  const bare: Sampled = {
    name: 'bare',
    requests: 1000,
    rows: [
      { object: '[kernel.kallsyms]', symbol: 'tcp_sendmsg', samples: 160 },
      { object: 'haproxy', symbol: 'process_stream', samples: 40 },
      { object: 'libc.so.6', symbol: 'memmove', samples: 4 },
    ],
  };
  const ours: Sampled = {
    name: 'ours',
    requests: 2000,
    rows: [
      { object: '[kernel.kallsyms]', symbol: 'tcp_sendmsg', samples: 400 },
      { object: '[kernel.kallsyms]', symbol: 'finish_task_switch', samples: 40 },
      { object: 'haproxy', symbol: 'process_stream', samples: 80 },
      { object: 'haproxy', symbol: 'sess_build_logline', samples: 16 },
      { object: 'libc.so.6', symbol: 'memmove', samples: 40 },
    ],
  };

  it('puts each shared object in microseconds of CPU a request', () => {
    assert.deepEqual(byObject(ours), [
      { object: '[kernel.kallsyms]', us: 55 },
      { object: 'haproxy', us: 12 },
      { object: 'libc.so.6', us: 5 },
    ]);
  });

  it('prints the objects bare against ours, and the user-space functions that grew the most', () => {
    const text = formatSampled('title', bare, ours, 2);
    const lines = text.split('\n').map((line) => line.trimEnd());
    assert.equal(lines[0], 'title');
    const row = (first: string) => lines.find((line) => line.startsWith(first))?.split(/\s{2,}/);
    assert.deepEqual(row('[kernel.kallsyms]'), ['[kernel.kallsyms]', '40.00', '55.00', '15.00']);
    assert.deepEqual(row('haproxy  '), ['haproxy', '10.00', '12.00', '2.00']);
    assert.deepEqual(row('all'), ['all', '51.00', '72.00', '21.00']);
    // The kernel's functions are left out (their samples bunch where interrupts come back on);
    // process_stream did not grow, so the two that did are listed, the most first.
    assert.deepEqual(row('libc.so.6 memmove'), ['libc.so.6 memmove', '1.00', '5.00', '4.00']);
    assert.deepEqual(row('haproxy sess_build_logline'), [
      'haproxy sess_build_logline',
      '0.00',
      '2.00',
      '2.00',
    ]);
    assert.equal(row('haproxy process_stream'), undefined);
    assert.equal(row('[kernel.kallsyms] tcp_sendmsg'), undefined);
  });
});
