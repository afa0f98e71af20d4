import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatGtidList,
  hasReached,
  isAhead,
  missingFrom,
  parseGtidList,
  stateAtPosition,
} from './gtid.ts';

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

  it('rebuild the history a copy holds from its position and the source’s later state', () => {
    // db-02 wrote up to 0-32-40, then db-01 took over; the copy was taken at 0-31-90 and db-01
    // had reached 0-31-95 when its state was read.
    assert.equal(
      formatGtidList(stateAtPosition(g('0-31-95,0-32-40'), g('0-31-90'))),
      '0-32-40,0-31-90',
    );
    assert.deepEqual(stateAtPosition(g('0-31-95'), g('')), []);
  });
});
