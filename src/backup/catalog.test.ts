import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  mergeBinlogs,
  parseBinlogText,
  planRecovery,
  retained,
  sealedCopy,
  takeoversOf,
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
  /** Lines as mariadb-binlog 10.11 prints them (TZ=UTC), from a lab primary's binary log. */
  const head = (time: string, what: string): string =>
    `#261203 ${time} server id 31  end_log_pos 5400 CRC32 0x84cadc34 \t${what}`;
  const ddl = (time: string, gtid: string): string[] => [
    head(time, `GTID ${gtid} ddl`),
    '/*!100001 SET @@session.gtid_seq_no=1*//*!*/;',
    head(time, 'Query\tthread_id=8\texec_time=0\terror_code=0\txid=0'),
    'CREATE TABLE messages (id INT)',
  ];
  const trans = (time: string, gtid: string, end: 'xid' | 'commit' | 'cut'): string[] => [
    head(time, `GTID ${gtid} trans`),
    'START TRANSACTION',
    head(time, 'Annotate_rows:'),
    head(time, 'Table_map: `foobar`.`messages` mapped to number 22'),
    head(time, 'Write_rows: table id 22 flags: STMT_END_F'),
    ...(end === 'xid' ? [head(time, 'Xid = 39'), 'COMMIT/*!*/;'] : []),
    ...(end === 'commit'
      ? [head(time, 'Query\tthread_id=11\texec_time=0\terror_code=0\txid=0'), 'COMMIT']
      : []),
  ];
  const list = head('13:14:02', 'Gtid list [0-31-23]');

  it('reads a binary log’s span from mariadb-binlog’s text', () => {
    const text = [
      list,
      ...ddl('13:14:05', '0-31-24'),
      ...trans('13:14:06', '0-31-25', 'xid'),
      ...trans('13:15:08', '0-31-26', 'commit'),
      ...trans('13:15:09', '0-31-27', 'xid'),
      '# End of log file',
      'ROLLBACK /* added by mysqlbinlog */;',
    ].join('\n');
    assert.deepEqual(parseBinlogText(text), {
      startState: '0-31-23',
      firstGtid: '0-31-24',
      firstAt: '2026-12-03T13:14:05Z',
      lastGtid: '0-31-27',
      lastAt: '2026-12-03T13:15:09Z',
    });
  });

  it('ends a binary log cut inside a transaction at the last transaction it holds whole', () => {
    // Cut inside an event: mariadb-binlog prints what was whole, says "Event truncated" on its
    // error output and exits 0. Cut between two events: the same, without the error.
    const before = [list, ...ddl('13:14:05', '0-31-24'), ...trans('13:14:06', '0-31-25', 'xid')];
    const cut = trans('13:15:09', '0-31-26', 'cut');
    for (const text of [
      [...before, ...cut, 'ROLLBACK /* added by mysqlbinlog */;'],
      [...before, ...cut, '# End of log file', 'ROLLBACK /* added by mysqlbinlog */;'],
      [...before, ...cut.slice(0, 2)],
    ])
      assert.deepEqual(parseBinlogText(text.join('\n')), {
        startState: '0-31-23',
        firstGtid: '0-31-24',
        firstAt: '2026-12-03T13:14:05Z',
        lastGtid: '0-31-25',
        lastAt: '2026-12-03T13:14:06Z',
      });
    // Nothing whole after the Gtid list: no transaction at all.
    assert.deepEqual(parseBinlogText([list, ...cut].join('\n')), { startState: '0-31-23' });
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
  it('applies a former primary’s binary log only up to the takeover: what no replica got is skipped, the new primary’s transactions of the same numbers applied', () => {
    const backups = [full('b', '2026-12-03T12:00:00.000Z', '0-31-20')];
    // db-01 wrote 0-31-91 (archived) that db-02 never received; db-02 took over at 0-31-90 and
    // wrote 0-32-91 next. The archive also holds a file of db-01's with nothing but lost ones.
    const logs = [
      binlog(
        'db-01',
        'db-01-bin.000002',
        ['0-31-21', '2026-12-03T12:10:00Z'],
        ['0-31-91', '2026-12-03T12:30:01Z'],
      ),
      binlog(
        'db-01',
        'db-01-bin.000003',
        ['0-31-92', '2026-12-03T12:30:02Z'],
        ['0-31-93', '2026-12-03T12:30:03Z'],
      ),
      binlog(
        'db-02',
        'db-02-bin.000001',
        ['0-31-85', '2026-12-03T12:29:00Z'],
        ['0-32-95', '2026-12-03T12:35:00Z'],
      ),
    ];
    const takeovers = takeoversOf([
      { at: '2026-12-03T12:20:00.000Z', action: 'rejoin', host: 'db-03', gtid: '0-31-50' },
      {
        at: '2026-12-03T12:30:05.120Z',
        action: 'promote',
        host: 'db-02',
        from: 'db-01',
        gtid: '0-31-90',
      },
    ]);
    assert.deepEqual(takeovers, [
      { source: 'db-01', gtid: '0-31-90', at: '2026-12-03T12:30:05.120Z', restarted: false },
    ]);
    const steps = (plan: ReturnType<typeof planRecovery>): string[] =>
      plan.binlogs.map((b) => `${b.binlog.name} from ${b.from} until ${b.until ?? 'its end'}`);
    const plan = planRecovery({ time: '2026-12-03T12:40:00.000Z' }, backups, logs, takeovers);
    assert.deepEqual(steps(plan), [
      'db-01-bin.000002 from 0-31-20 until 0-31-90',
      'db-02-bin.000001 from 0-31-90 until its end',
    ]);
    assert.equal(plan.reaches, '0-32-95');
    // Without the history the lost 0-31-91 would be applied and 0-32-91 skipped.
    assert.deepEqual(steps(planRecovery({ time: '2026-12-03T12:40:00.000Z' }, backups, logs)), [
      'db-01-bin.000002 from 0-31-20 until its end',
      'db-02-bin.000001 from 0-31-91 until its end',
    ]);
  });

  it('applies a primary’s binary log from before its restore only up to the restored point, and its restarted log after', () => {
    const backups = [full('b', '2026-12-03T12:00:00.000Z', '0-31-20')];
    const logs = [
      // 0-31-51..60 were undone by the restore (a bad DELETE among them).
      binlog(
        'db-01',
        'db-01-bin.000004',
        ['0-31-21', '2026-12-03T12:10:00Z'],
        ['0-31-60', '2026-12-03T12:20:00Z'],
      ),
      // Restarted in the second the restored server started: numbers after the point again.
      binlog(
        'db-01',
        'db-01-bin.000001',
        ['0-31-51', '2026-12-03T12:25:00Z'],
        ['0-31-70', '2026-12-03T12:30:00Z'],
      ),
    ];
    const takeovers = takeoversOf([
      { at: '2026-12-03T12:25:00.400Z', action: 'restore', host: 'db-01', gtid: '0-31-50' },
    ]);
    const steps = (plan: ReturnType<typeof planRecovery>): string[] =>
      plan.binlogs.map((b) => `${b.binlog.name} from ${b.from} until ${b.until ?? 'its end'}`);
    assert.deepEqual(
      steps(planRecovery({ time: '2026-12-03T12:40:00.000Z' }, backups, logs, takeovers)),
      [
        'db-01-bin.000004 from 0-31-20 until 0-31-50',
        'db-01-bin.000001 from 0-31-50 until its end',
      ],
    );
    // A moment before the restore: the site had the old history then, the DELETE included.
    assert.deepEqual(
      steps(planRecovery({ time: '2026-12-03T12:22:00.000Z' }, backups, logs, takeovers)),
      ['db-01-bin.000004 from 0-31-20 until its end'],
    );
    const exact = planRecovery({ gtid: '0-31-55' }, backups, logs, takeovers);
    assert.deepEqual(steps(exact), [
      'db-01-bin.000004 from 0-31-20 until 0-31-50',
      'db-01-bin.000001 from 0-31-50 until its end',
    ]);
    assert.equal(exact.reaches, '0-31-55');
  });

  describe('a spooled file the agent seals while a restore reads the catalog', () => {
    const open = { ...binlog('db-01', 'db-01-bin.000003', ['0-31-50', ''], ['0-31-60', '']) };
    const archivedAs = (name: string, startState: string, firstGtid: string, sealedAt: string) => ({
      kind: 'binlog' as const,
      source: 'db-01',
      name,
      startState,
      firstGtid,
      sealedAt,
      file: `${name}.zst.aes`,
      sealed,
      path: `/binlogs/db-01/${name}.${sealedAt}.zst.aes`,
    });
    const sealedNow = archivedAs('db-01-bin.000003', '', '0-31-50', '2026-12-05T09:13:30.000Z');
    const older = archivedAs('db-01-bin.000003', '0-31-2', '0-31-3', '2026-12-05T09:00:00.000Z');

    it('is counted once when it is both in the spool and in the archive', () => {
      const merged = mergeBinlogs([older, sealedNow], [open]);
      assert.deepEqual(
        merged.map((b) => b.path),
        [older.path, sealedNow.path],
      );
      // Another server's file of the same name, or this name's earlier history, is not it.
      assert.equal(mergeBinlogs([older], [open]).length, 2);
    });

    it('is read from its archived copy once gone from the spool, not an earlier file of its name', () => {
      assert.equal(sealedCopy(open, [older, sealedNow])?.path, sealedNow.path);
      assert.equal(sealedCopy(open, [older]), undefined);
    });
  });
});
