import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareFigures } from './restore.ts';

describe('the restore check’s comparison', () => {
  const live = [
    { table: 'messages', rows: 120, checksum: '3141592653' },
    { table: 'schema_migrations', rows: 2, checksum: '2718281828' },
  ];

  it('passes the same rows and checksums, table by table', () => {
    assert.deepEqual(compareFigures(live, [...live].reverse()), []);
  });

  it('says what differs: a checksum, a count, a table missing or extra, nothing to compare', () => {
    assert.deepEqual(
      compareFigures(live, [
        { table: 'messages', rows: 120, checksum: '1' },
        { table: 'other', rows: 0, checksum: '0' },
      ]),
      [
        'messages: 120 rows (checksum 1) restored, 120 (checksum 3141592653) live',
        'schema_migrations: not in the restored data',
        'other: only in the restored data',
      ],
    );
    assert.deepEqual(compareFigures([], []), ['the live schema has no table to compare']);
  });
});
