/**
 * The primary of record answering read-only (its server restarted): opened for writes only when
 * database.json still names it at the epoch the caller saw and no replica received a transaction
 * it lacks. SQL is answered by a fake transport (what each server would say); database.json is
 * the lab's default (no file: db-01 the primary, epoch 1).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { RecordingDriver } from '../../drivers/recording.ts';
import { buildModel } from '../../model/build.ts';
import { createContext, type SqlTransport } from '../context.ts';
import { reopenPrimary } from './reopen.ts';

const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-reopen-test-'));
after(() => fs.rm(scratch, { recursive: true, force: true }));

/** A site whose primary answers `readOnly` at `primaryPos` and whose replica received `ioPos`. */
function site(readOnly: boolean, primaryPos: string, ioPos: string) {
  const model = buildModel({ lab: { stateDir: path.join(scratch, `state-${Math.random()}`) } });
  const executed: string[] = [];
  const sql: SqlTransport = {
    run: (host, statement) => {
      executed.push(`${host}: ${statement.trim()}`);
      if (statement.includes('SHOW SLAVE STATUS'))
        return Promise.resolve([
          [{ Master_Host: 'db-01', Slave_IO_Running: 'Yes', Gtid_IO_Pos: ioPos }],
        ]);
      if (statement.includes('AS read_only'))
        return Promise.resolve([
          [{ read_only: readOnly ? '1' : '0', binlog_pos: primaryPos, binlog_state: primaryPos }],
        ]);
      return Promise.resolve([[]]);
    },
  };
  const ctx = {
    ...createContext(model, new RecordingDriver(() => undefined, { simulate: true })),
    sql,
  };
  return { ctx, executed, writes: () => executed.filter((e) => e.includes('SET GLOBAL')) };
}

describe('reopenPrimary', () => {
  it('opens a read-only primary no replica is ahead of, with semi-sync on', async () => {
    const { ctx, writes } = site(true, '0-31-40', '0-31-40');
    const done = await reopenPrimary(ctx, { primary: 'db-01', epoch: 1 });
    assert.equal(done?.opened, true);
    assert.deepEqual(writes(), [
      'db-01: SET GLOBAL rpl_semi_sync_master_enabled = ON;\nSET GLOBAL read_only = OFF;',
    ]);
  });

  it('leaves it read-only when a replica received what it lost in its restart, and says whom to promote', async () => {
    const { ctx, writes } = site(true, '0-31-40', '0-31-42');
    const done = await reopenPrimary(ctx, { primary: 'db-01', epoch: 1 });
    assert.ok(done !== undefined && !done.opened, JSON.stringify(done));
    assert.match(done.reason, /db-02 \(received 0-31-42\).*promote it/);
    assert.deepEqual(writes(), []);
  });

  it('does nothing to a writable primary, nor after a change of primary the caller did not see', async () => {
    const writable = site(false, '0-31-40', '0-31-40');
    assert.equal(await reopenPrimary(writable.ctx, { primary: 'db-01', epoch: 1 }), undefined);
    const moved = site(true, '0-31-40', '0-31-40');
    assert.equal(await reopenPrimary(moved.ctx, { primary: 'db-01', epoch: 0 }), undefined);
    assert.equal(await reopenPrimary(moved.ctx, { primary: 'db-02', epoch: 1 }), undefined);
    assert.deepEqual([...writable.writes(), ...moved.writes()], []);
  });
});
