import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGtidList, hasReached, isAhead, missingFrom, parseGtidList } from './gtid.ts';

const g = parseGtidList;

describe('GTID lists', () => {
  it('parse and format as the server prints them', () => {
    assert.deepEqual(g(''), []);
    assert.equal(
      formatGtidList(g('0-31-5,1-32-18446744073709551615')),
      '0-31-5,1-32-18446744073709551615',
    );
    assert.throws(() => g('0-31'), /not a GTID: "0-31"/);
  });

  it('compare positions domain by domain', () => {
    assert.equal(hasReached(g('0-32-10'), g('0-31-9')), true);
    assert.equal(hasReached(g('0-31-9'), g('0-31-10')), false);
    assert.equal(hasReached(g('0-31-9'), g('0-31-9,1-31-1')), false);
    assert.equal(hasReached(g('0-31-9'), g('')), true);
    assert.equal(isAhead(g('0-31-10'), g('0-31-9')), true);
    assert.equal(isAhead(g('0-31-9'), g('0-31-9')), false);
  });

  it('find what a server has that another never had, whatever the sequence numbers say', () => {
    // db-01 committed 0-31-100 after db-02 was promoted at 0-31-99; db-02 went on with 0-32-100..101.
    assert.deepEqual(formatGtidList(missingFrom(g('0-31-100'), g('0-31-99,0-32-101'))), '0-31-100');
    assert.deepEqual(missingFrom(g('0-31-99'), g('0-31-99,0-32-101')), []);
    assert.deepEqual(formatGtidList(missingFrom(g('0-33-4'), g('0-31-99'))), '0-33-4');
  });
});
