import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BENCH_RULE_COMMENT, deleteRule, echoedHandle, insertBenchRule } from './firewall.ts';

describe('the bench’s holes in the firewalls', () => {
  it('inserts an accept rule first, for the one peer, with its comment, and asks for its handle', () => {
    const argv = insertBenchRule('input', 19100, '10.74.2.90').argv.join(' ');
    assert.equal(
      argv,
      `nft --echo --handle insert rule inet foobar input ip saddr 10.74.2.90 tcp dport 19100 accept comment "${BENCH_RULE_COMMENT}"`,
    );
    assert.deepEqual(insertBenchRule('output', 19400, '10.74.2.40').argv.slice(7, 11), [
      'output',
      'ip',
      'daddr',
      '10.74.2.40',
    ]);
  });

  it('reads the handle nft echoes, and deletes the rule by it', () => {
    const echoed =
      'insert rule inet foobar input ip saddr 10.74.2.90 tcp dport 19100 accept comment "x" # handle 57\n';
    assert.equal(echoedHandle(echoed), 57);
    assert.equal(
      deleteRule('input', 57).argv.join(' '),
      'nft delete rule inet foobar input handle 57',
    );
  });

  it('refuses an echo without a handle', () => {
    assert.throws(() => echoedHandle(''), /did not echo a rule handle/);
  });
});
