import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditWrites } from './writes.ts';

describe('auditWrites', () => {
  it('finds acknowledged writes missing, stored under another id, or stored twice', () => {
    const acked = [
      { text: 'p-0-0', id: 1 },
      { text: 'p-0-1', id: 2 },
      { text: 'p-0-2', id: 3 },
    ];
    const rows = [
      { text: 'p-0-0', id: 1 },
      { text: 'p-0-1', id: 7 },
      { text: 'p-1-0', id: 4 },
      { text: 'p-1-0', id: 5 },
    ];
    assert.deepEqual(auditWrites(acked, rows), {
      acked: 3,
      lost: ['p-0-1 (id 2): [7]', 'p-0-2 (id 3): []'],
      duplicated: ['p-1-0'],
    });
  });

  it('counts an acknowledged write stored again as duplicated, not lost', () => {
    const rows = [
      { text: 'p-0-0', id: 1 },
      { text: 'p-0-0', id: 2 },
    ];
    assert.deepEqual(auditWrites([{ text: 'p-0-0', id: 1 }], rows), {
      acked: 1,
      lost: [],
      duplicated: ['p-0-0'],
    });
  });

  it('finds nothing wrong when every acknowledged write is stored once', () => {
    const rows = [
      { text: 'p-0-0', id: 1 },
      { text: 'p-0-1', id: 2 },
    ];
    assert.deepEqual(auditWrites([{ text: 'p-0-0', id: 1 }], rows), {
      acked: 1,
      lost: [],
      duplicated: [],
    });
  });
});
