import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseXmlResults, sqlString, withoutStatements } from './mariadb.ts';

it('reads every result set of the mariadb client’s XML, NULLs and odd text intact', () => {
  const xml = `<?xml version="1.0"?>

<resultset statement="SELECT 1 AS a, NULL AS b, 'x&lt;y' AS c" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <row>
	<field name="a">1</field>
	<field name="b" xsi:nil="true" />
	<field name="c">x&lt;y&amp;&quot;z&quot;	tab
nl</field>
  </row>
</resultset>
<?xml version="1.0"?>

<resultset statement="SHOW SLAVE STATUS" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
</resultset>
`;
  assert.deepEqual(parseXmlResults(xml), [[{ a: '1', b: null, c: 'x<y&"z"\ttab\nnl' }], []]);
});

it('quotes strings for SQL', () => {
  assert.equal(sqlString("it's a \\ test\n"), "'it\\'s a \\\\ test\\n'");
});

describe('errors of the mariadb client', () => {
  it('never carry the statement it repeats, nor a password', () => {
    const stderr = [
      '--------------',
      "CHANGE MASTER TO MASTER_PASSWORD = 'nBWjqJF7LVqO6d3p'",
      '--------------',
      '',
      "ERROR 1198 (HY000) at line 2: This operation cannot be performed as you have a running slave ''; run STOP SLAVE '' first",
    ].join('\n');
    const cleaned = withoutStatements(`db-01: mariadb failed (exit 1):\n${stderr}`);
    assert.doesNotMatch(cleaned, /nBWjqJF7/);
    assert.match(cleaned, /ERROR 1198 .* run STOP SLAVE '' first$/);
    assert.equal(
      withoutStatements("ALTER USER x IDENTIFIED BY PASSWORD '*AB' OR x USING 'y\\'z'"),
      "ALTER USER x IDENTIFIED BY PASSWORD '…' OR x USING '…'",
    );
  });
});
