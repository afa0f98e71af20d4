import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostAddress, parseSubnet, subnetContains, subnetsOverlap, type Subnet } from './net.ts';

function subnet(text: string): Subnet {
  const parsed = parseSubnet(text);
  assert.ok(typeof parsed !== 'string', parsed as string);
  return parsed;
}

describe('net', () => {
  it('parses a subnet and derives host addresses', () => {
    const edge = subnet('10.77.1.0/24');
    assert.equal(edge.cidr, '10.77.1.0/24');
    assert.equal(hostAddress(edge, 11), '10.77.1.11');
    assert.throws(() => hostAddress(edge, 255), /does not fit in 10.77.1.0\/24/);
  });

  it('explains a malformed subnet', () => {
    assert.equal(
      parseSubnet('10.77.1.5/24'),
      '10.77.1.5/24 has host bits set: did you mean 10.77.1.0/24?',
    );
    assert.match(parseSubnet('10.77.1/24') as string, /expected a subnet like/);
    assert.match(parseSubnet('10.0.0.0/31') as string, /out of range/);
  });

  it('detects overlap and containment', () => {
    assert.equal(subnetsOverlap(subnet('10.0.0.0/16'), subnet('10.0.5.0/24')), true);
    assert.equal(subnetsOverlap(subnet('10.77.1.0/24'), subnet('10.77.2.0/24')), false);
    assert.equal(subnetContains(subnet('10.77.1.0/24'), '10.77.1.200'), true);
    assert.equal(subnetContains(subnet('10.77.1.0/24'), '10.77.2.1'), false);
  });
});
