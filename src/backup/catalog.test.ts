import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseBinlogText,
  planRecovery,
  retained,
  type Binlog,
  type FullBackup,
} from './catalog.ts';

const sealed = { bytes: 1, plainBytes: 1, sha256: '', iv: '', tag: '' };
const full = (id: string, finishedAt: string, gtid: string): FullBackup => ({
  kind: 'full',
  id,
  source: 'db-02',
  startedAt: finishedAt,
  finishedAt,
  gtid,
  file: `${id}.mbstream.zst.aes`,
  sealed,
});
const binlog = (
  source: string,
  name: string,
  first: [string, string],
  last: [string, string],
): Binlog => ({
  source,
  name,
  path: `/spool/${source}/${name}`,
  startState: '',
  firstGtid: first[0],
  firstAt: first[1],
  lastGtid: last[0],
  lastAt: last[1],
});

describe('the backup catalog', () => {
  it('reads a binary log’s span from mariadb-binlog’s text', () => {
    const text = [
      '#261203 13:14:02 server id 31  end_log_pos 256 CRC32 0x1\tGtid list [0-31-23]',
      '#261203 13:14:05 server id 31  end_log_pos 300 CRC32 0x2 \tGTID 0-31-24 trans',
      'INSERT ...',
      '#261203 13:15:09 server id 31  end_log_pos 400 CRC32 0x3 \tGTID 0-31-27 trans',
    ].join('\n');
    assert.deepEqual(parseBinlogText(text), {
      startState: '0-31-23',
      firstGtid: '0-31-24',
      firstAt: '2026-12-03T13:14:05Z',
      lastGtid: '0-31-27',
      lastAt: '2026-12-03T13:15:09Z',
    });
  });

  it('keeps the newest backup of each of the last days and weeks', () => {
    const backups = ['01', '02', '02', '03', '09', '10'].map((day, i) =>
      full(`b${i}`, `2026-11-${day}T0${i}:00:00.000Z`, `0-31-${i}`),
    );
    assert.deepEqual([...retained(backups, { keepDaily: 2, keepWeekly: 2 })].sort(), [
      'b3',
      'b4',
      'b5',
    ]);
  });

  it('recovers a moment from the last backup before it and the binary logs after, each file from where the others reached', () => {
    const backups = [
      full('old', '2026-12-03T10:00:00.000Z', '0-31-10'),
      full('new', '2026-12-03T12:00:00.000Z', '0-31-20'),
    ];
    const logs = [
      binlog(
        'db-01',
        'db-01-bin.000001',
        ['0-31-1', '2026-12-03T09:00:00Z'],
        ['0-31-18', '2026-12-03T11:59:00Z'],
      ),
      binlog(
        'db-01',
        'db-01-bin.000002',
        ['0-31-19', '2026-12-03T11:59:30Z'],
        ['0-31-30', '2026-12-03T12:30:00Z'],
      ),
      // After a failover: the new primary's file holds some of the same transactions.
      binlog(
        'db-02',
        'db-02-bin.000003',
        ['0-31-25', '2026-12-03T12:10:00Z'],
        ['0-32-40', '2026-12-03T13:00:00Z'],
      ),
      binlog(
        'db-02',
        'db-02-bin.000004',
        ['0-32-41', '2026-12-03T13:05:00Z'],
        ['0-32-50', '2026-12-03T13:10:00Z'],
      ),
    ];
    const plan = planRecovery({ time: '2026-12-03T12:45:00.000Z' }, backups, logs);
    assert.equal(plan.backup.id, 'new');
    assert.deepEqual(
      plan.binlogs.map((b) => `${b.binlog.name} from ${b.from}`),
      ['db-01-bin.000002 from 0-31-20', 'db-02-bin.000003 from 0-31-30'],
    );
    assert.throws(
      () => planRecovery({ time: '2026-12-03T09:00:00.000Z' }, backups, logs),
      /no full backup before 2026-12-03T09:00:00.000Z/,
    );
  });

  it('refuses a plan with a hole in the binary logs', () => {
    const backups = [full('b', '2026-12-03T12:00:00.000Z', '0-31-20')];
    const logs = [
      binlog(
        'db-01',
        'db-01-bin.000005',
        ['0-31-25', '2026-12-03T12:10:00Z'],
        ['0-31-30', '2026-12-03T12:20:00Z'],
      ),
    ];
    assert.throws(
      () => planRecovery({ gtid: '0-31-28' }, backups, logs),
      /gap: db-01\/db-01-bin.000005 starts at 0-31-25 but only 0-31-20 is covered/,
    );
  });
});
