import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runProcess } from '../drivers/process.ts';
import {
  COUNTERS_AWK,
  FIREWALL_PACKETS_METRIC,
  firewallCountsStarted,
  parseCountersPackets,
  parseCountsFile,
} from './nft.ts';

it('reads every named counter of a table from one `nft -j list counters`', () => {
  // As nft 1.0.6 prints it on Debian 12 for a web server's table.
  const output =
    '{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}, ' +
    '{"counter": {"family": "inet", "name": "input_dropped", "table": "foobar", "handle": 4, "packets": 7, "bytes": 420}}, ' +
    '{"counter": {"family": "inet", "name": "output_refused", "table": "foobar", "handle": 6, "packets": 2, "bytes": 120}}]}';
  assert.deepEqual(
    [...parseCountersPackets(output)],
    [
      ['input_dropped', 7],
      ['output_refused', 2],
    ],
  );
  assert.equal(parseCountersPackets('{"nftables": []}').size, 0);
});

it('turns `nft list counters` into metrics that promtool accepts, counted as nft counted', async () => {
  // As nft 1.0.6 prints it on Debian 12 for a web server's table.
  const listing = [
    'table inet foobar {',
    '\tcounter input_dropped {',
    '\t\tpackets 7 bytes 420',
    '\t}',
    '\tcounter output_refused {',
    '\t\tpackets 2 bytes 120',
    '\t}',
    '}',
    '',
  ].join('\n');
  // Debian's default awk is mawk (the machines' image); this machine's `awk` is gawk: both do.
  for (const program of ['mawk', 'awk']) {
    const before = Math.floor(Date.now() / 1000);
    const awk = await runProcess([program, COUNTERS_AWK], { input: listing });
    const after = Math.ceil(Date.now() / 1000);
    assert.equal(awk.exitCode, 0, `${program}: ${awk.stderr}`);
    const samples = awk.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    assert.deepEqual(samples.slice(0, 2), [
      `${FIREWALL_PACKETS_METRIC}{counter="input_dropped"} 7`,
      `${FIREWALL_PACKETS_METRIC}{counter="output_refused"} 2`,
    ]);
    // What `status` and the exporter read back: the counts, and when they were read.
    const read = parseCountsFile(awk.stdout);
    assert.deepEqual(
      [...read.packets],
      [
        ['input_dropped', 7],
        ['output_refused', 2],
      ],
    );
    assert.ok(
      read.at !== undefined && read.at >= before && read.at <= after,
      `${program}: read at ${samples[2]}, not ${before}-${after}`,
    );
    const lint = await runProcess(['promtool', 'check', 'metrics'], { input: awk.stdout });
    assert.equal(lint.exitCode, 0, `${lint.stdout}${lint.stderr}`);
  }
});

it('reads a counts file that holds no reading yet', () => {
  // Before the loop's first reading the file holds its start time alone.
  assert.deepEqual(parseCountsFile(firewallCountsStarted(1796429600)), {
    at: 1796429600,
    packets: new Map(),
  });
  assert.deepEqual(parseCountsFile(''), { packets: new Map() });
});
