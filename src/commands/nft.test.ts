import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseCountersPackets } from './nft.ts';

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
