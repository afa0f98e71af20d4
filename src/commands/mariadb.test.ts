import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isReadOnlySql, mariadb } from './mariadb.ts';

test('a script of SELECTs and SHOWs reads; anything else, or a SELECT INTO, writes', () => {
  assert.equal(isReadOnlySql('SELECT 1;'), true);
  assert.equal(isReadOnlySql('SHOW SLAVE STATUS;\nSELECT @@global.read_only AS r;\n'), true);
  assert.equal(isReadOnlySql('  select id\n  from t\n  where x = 1;'), true);
  assert.equal(isReadOnlySql('SET GLOBAL read_only = OFF;'), false);
  assert.equal(isReadOnlySql('SELECT 1;\nSTOP SLAVE;'), false);
  assert.equal(isReadOnlySql('CREATE DATABASE IF NOT EXISTS x;\nSELECT 1;'), false);
  assert.equal(isReadOnlySql("SELECT * FROM t INTO OUTFILE '/tmp/x';"), false);
  assert.equal(isReadOnlySql(''), false);
});

test("the admin's SQL command says whether up --plan may run it", () => {
  assert.equal(mariadb.sql('/x.cnf', 'SELECT 1;').readOnly, true);
  assert.equal(mariadb.sql('/x.cnf', 'RESET SLAVE ALL;').readOnly, false);
});
