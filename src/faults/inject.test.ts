import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nft } from '../commands/nft.ts';
import { hostsWithRole } from '../model/model.ts';
import { fixture, inScratchNamespace, runChecker } from '../render/testing.ts';
import { linkIsUp, partitionRules } from './inject.ts';

describe('partitionRules', () => {
  const { model } = fixture('db-01');
  const webs = hostsWithRole(model, 'web');

  it('drops both directions between the host and every address of its peers', () => {
    const rules = partitionRules(webs);
    assert.match(rules, /ip saddr \{ 10\.77\.2\.21, 10\.77\.2\.22 \} drop/);
    assert.match(rules, /ip daddr \{ 10\.77\.2\.21, 10\.77\.2\.22 \} drop/);
  });

  it('is accepted by nft -c', async () => {
    const result = await runChecker(inScratchNamespace(nft.applyInput(partitionRules(webs))));
    // `nft -f -` applies: in a scratch namespace that vanishes with the process, it proves the
    // kernel takes the rules as they are.
    assert.equal(result.exitCode, 0, result.stderr);
  });
});

describe('linkIsUp', () => {
  it('reads the UP flag, not the carrier', () => {
    assert.equal(linkIsUp('[{"ifname":"web-01-c","flags":["BROADCAST","UP","LOWER_UP"]}]'), true);
    assert.equal(linkIsUp('[{"ifname":"web-01-c","flags":["BROADCAST","MULTICAST"]}]'), false);
  });
});
