import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainStatements, resultSets } from './sql.ts';

describe('failover SQL over the network', () => {
  it('drops DELIMITER lines and ends compound statements with ;', () => {
    const script = `DELIMITER //
BEGIN NOT ATOMIC
  IF MASTER_GTID_WAIT('0-1-5', 60) <> 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'not applied in time';
  END IF;
END//
DELIMITER ;
STOP SLAVE;
SELECT @@global.gtid_binlog_pos AS gtid;`;
    assert.equal(
      plainStatements(script),
      `BEGIN NOT ATOMIC
  IF MASTER_GTID_WAIT('0-1-5', 60) <> 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'not applied in time';
  END IF;
END;
STOP SLAVE;
SELECT @@global.gtid_binlog_pos AS gtid;`,
    );
    assert.equal(plainStatements('SELECT 1;'), 'SELECT 1;');
  });

  it('keeps the result sets of a script, in order, as the client lists them', () => {
    const header = { affectedRows: 0, insertId: 0, fieldCount: 0 };
    // One statement: not wrapped.
    assert.deepEqual(resultSets([{ gtid: '0-1-5' }]), [[{ gtid: '0-1-5' }]]);
    assert.deepEqual(resultSets([]), [[]]);
    assert.deepEqual(resultSets(header), []);
    // Several: headers dropped, empty sets kept.
    assert.deepEqual(resultSets([header, [], header, [{ a: '1' }, { a: null }]]), [
      [],
      [{ a: '1' }, { a: null }],
    ]);
  });
});
