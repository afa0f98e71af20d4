import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  binlogIndex,
  hasRead,
  parseClientOptions,
  quantile,
  type CommitLeg,
  type FetchLeg,
} from './repltls-client.ts';
import {
  backlogSql,
  binlogBytes,
  formatRepl,
  pointReplicaSql,
  summarizeRepl,
  type ReplLeg,
  type ReplRound,
} from './repltls.ts';

const MB = 1e6;

function leg(commits: number, p50Ms: number, fetchSeconds: number, unacknowledged = 0): ReplLeg {
  const c: CommitLeg = {
    commits,
    seconds: 4,
    p50Ms,
    p99Ms: p50Ms * 3,
    acknowledged: commits - unacknowledged,
    unacknowledged,
  };
  const f: FetchLeg = {
    seconds: fetchSeconds,
    cpuSeconds: fetchSeconds / 2,
    sslAllowed: 'Yes',
    readUpTo: { file: 'db-01-bin.000004', pos: 200 * MB },
    polls: 10,
  };
  return { commits: c, fetch: f, bytes: 200 * MB, primaryCpuSeconds: 0.2 };
}

const rounds: ReplRound[] = [
  { tls: leg(3600, 4, 2), clear: leg(4000, 3.6, 1) },
  { tls: leg(3200, 5, 2.5), clear: leg(4000, 3.5, 2) },
  { tls: leg(4000, 4, 1), clear: leg(4000, 4, 1, 3) },
];

describe('replication’s TLS cost', () => {
  it('reads the admin’s login from its option file', () => {
    const text = '[client]\nuser = foobar_admin\npassword = a=b c\nsocket = /run/x/mysqld.sock\n';
    assert.deepEqual(parseClientOptions(text), {
      user: 'foobar_admin',
      password: 'a=b c',
      socket: '/run/x/mysqld.sock',
    });
    assert.throws(() => parseClientOptions('[mysqld]\nuser = mysql\n'), /no \[client\]/);
  });

  it('knows when the replica has read up to the primary’s position, across files', () => {
    assert.equal(binlogIndex('db-01-bin.000012'), 12);
    assert.throws(() => binlogIndex('db-01-bin'), /not a binary log file name/);
    const target = { file: 'db-01-bin.000009', pos: 5000 };
    assert.equal(hasRead({ file: 'db-01-bin.000009', pos: 4999 }, target), false);
    assert.equal(hasRead({ file: 'db-01-bin.000009', pos: 5000 }, target), true);
    assert.equal(hasRead({ file: 'db-01-bin.000008', pos: 9e9 }, target), false);
    assert.equal(hasRead({ file: 'db-01-bin.000010', pos: 4 }, target), true);
  });

  it('counts the bytes of binary log between two positions, across files', () => {
    const logs = [
      { name: 'db-01-bin.000002', size: 1000 },
      { name: 'db-01-bin.000003', size: 700 },
      { name: 'db-01-bin.000004', size: 300 },
    ];
    const from = { file: 'db-01-bin.000002', pos: 400 };
    assert.equal(binlogBytes(logs, from, { file: 'db-01-bin.000002', pos: 900 }), 500);
    assert.equal(binlogBytes(logs, from, { file: 'db-01-bin.000004', pos: 100 }), 600 + 700 + 100);
    assert.throws(
      () => binlogBytes(logs, from, { file: 'db-01-bin.000006', pos: 1 }),
      /no binary log 5/,
    );
  });

  it('takes quantiles by the nearest rank', () => {
    assert.equal(quantile([5, 1, 3, 2, 4], 0.5), 3);
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
    assert.equal(
      quantile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        0.99,
      ),
      99,
    );
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  it('points the replica with or without TLS and nothing else', () => {
    assert.match(
      pointReplicaSql(false),
      /^STOP SLAVE;\nCHANGE MASTER TO MASTER_SSL = 0, MASTER_SSL_VERIFY_SERVER_CERT = 0, MASTER_USE_GTID = slave_pos;$/,
    );
    assert.match(pointReplicaSql(true), /MASTER_SSL = 1, MASTER_SSL_VERIFY_SERVER_CERT = 1/);
    assert.doesNotMatch(pointReplicaSql(true), /MASTER_HOST|PASSWORD|MASTER_LOG/);
  });

  it('writes the backlog in transactions of 4 MiB of random rows', () => {
    const sql = backlogSql('`b`.backlog', 10);
    const statements = sql.split('\n');
    assert.equal(statements.length, 3);
    assert.ok(statements.every((s) => s === statements[0]));
    assert.match(
      statements[0] ?? '',
      /^INSERT INTO `b`\.backlog \(b\) SELECT RANDOM_BYTES\(1024\)/,
    );
    // 16 digits in each of three derived tables: 4,096 rows.
    assert.equal((statements[0]?.match(/UNION ALL SELECT/g) ?? []).length, 3 * 15);
  });

  it('gives commits a second and MB/s TLS ÷ clear, latency, acknowledgements and CPU per GB', () => {
    const s = summarizeRepl(rounds, 4);
    assert.deepEqual(s.commits.ratios, [0.9, 0.8, 1]);
    assert.equal(s.commits.median, 0.9);
    assert.equal(s.commits.a, 900);
    assert.equal(s.commits.b, 1000);
    assert.match(s.commits.name, /4 connections/);
    assert.deepEqual(s.commitP50Ms, { tls: 4, clear: 3.6 });
    assert.deepEqual(s.unacknowledged, { tls: 0, clear: 3 });
    assert.deepEqual(s.fetch.ratios, [0.5, 0.8, 1]);
    assert.equal(s.fetch.a, 100);
    assert.equal(s.fetch.b, 200);
    assert.deepEqual(s.replicaCpuPerGb, { tls: 5, clear: 2.5 });
    assert.deepEqual(s.primaryCpuPerGb, { tls: 1, clear: 1 });
    assert.throws(() => summarizeRepl([], 4), /no round/);
  });

  it('prints both loads with the ratio, its spread and the load average', () => {
    const text = formatRepl({
      primary: 'db-01',
      replica: 'db-02',
      connections: 4,
      seconds: 4,
      backlogMib: 128,
      rounds,
      ...summarizeRepl(rounds, 4),
      loadAverage: { before: 3.04, after: 5.5 },
    });
    assert.match(
      text,
      /db-01 → db-02 over TLS ÷ clear text .*3 rounds; 4 s of commits and 128 MiB/,
    );
    assert.match(
      text,
      /commits a second, 4 connections on the primary\s+900\s+1000\s+0\.90 \(0\.80–1\.00\)\s+p50 4\.00 \/ 3\.60 ms; not acknowledged 0 \/ 3/,
    );
    assert.match(
      text,
      /a backlog fetched by the I\/O thread, MB\/s\s+100\s+200\s+0\.80 \(0\.50–1\.00\)\s+CPU s per GB: primary 1\.00 \/ 1\.00, replica 5\.00 \/ 2\.50/,
    );
    assert.match(text, /load average 3\.0 before, 5\.5 after/);
  });
});
