/**
 * The drill's restore check (`foobar drill backup:restore`): a backup is only as good as a
 * restore of it. A replica is held still for an instant (its SQL thread stopped) and its tables
 * counted and checksummed (`CHECKSUM TABLE`) at the GTID it had applied; the newest full backup
 * and the archived binary logs are restored to that GTID on the backup host's scratch server,
 * whose tables are counted and checksummed the same way. Equal figures pass; the time the
 * restore took is the RTO, and how old the archive's newest moment was is the RPO.
 */
import { hasReached, parseGtidList } from '../lib/gtid.ts';
import { waitFor } from '../lib/wait.ts';
import { mariadb } from '../commands/mariadb.ts';
import { backupHost } from '../model/backup.ts';
import { parseXmlResults, runSql, sqlString, type Row } from '../probes/mariadb.ts';
import { discardScratch, recoverableAt, restoreToScratch } from '../steps/backup.ts';
import type { Context } from '../steps/context.ts';
import { readDbState, replicasOf } from '../steps/db/state.ts';

/** What `foobar drill --list` shows for it. */
export const RESTORE_CHECK = {
  name: 'backup:restore',
  what: 'the newest backup and the archived binary logs restored to a scratch server',
  goal: 'every table of the schema with the same rows and CHECKSUM TABLE as a replica held at that GTID',
} as const;

export interface TableFigures {
  readonly table: string;
  readonly rows: number;
  readonly checksum: string;
}

export interface RestoreCheck {
  readonly check: typeof RESTORE_CHECK.name;
  /** The GTID the replica was held at and the restore reached. */
  readonly gtid: string;
  readonly heldOn: string;
  readonly backup: string;
  readonly binlogs: number;
  /** From the first step of the restore to the scratch server answering with the data. */
  readonly rtoSeconds: number;
  /** How far the archive's newest recoverable moment was behind the hold, when it was reached. */
  readonly rpoSeconds: number;
  readonly live: readonly TableFigures[];
  readonly restored: readonly TableFigures[];
  readonly missed: readonly string[];
  readonly passed: boolean;
}

/** A replica's SQL thread may take this long to stop, and the archive this long to catch up. */
const HOLD_TIMEOUT_MS = 30_000;
const ARCHIVE_TIMEOUT_MS = 60_000;

/** The SQL that counts and checksums every table of `schema`, one result set per statement. */
function figuresSql(tables: readonly string[], schema: string): string {
  return tables
    .map(
      (t) =>
        `SELECT ${sqlString(t)} AS t, COUNT(*) AS n FROM \`${schema}\`.\`${t}\`;\nCHECKSUM TABLE \`${schema}\`.\`${t}\`;`,
    )
    .join('\n');
}

function parseFigures(results: readonly (readonly Row[])[]): TableFigures[] {
  const figures: TableFigures[] = [];
  for (let i = 0; i + 1 < results.length; i += 2) {
    const count = results[i]?.[0];
    const sum = results[i + 1]?.[0];
    figures.push({
      table: count?.t ?? '?',
      rows: Number(count?.n ?? NaN),
      checksum: sum?.Checksum ?? '',
    });
  }
  return figures;
}

const TABLES = (schema: string): string =>
  `SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${sqlString(schema)} AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME;`;

/** Runs the check; the scratch server is discarded afterwards, whatever happened. */
export async function drillRestore(
  ctx: Context,
  progress: (line: string) => void,
): Promise<RestoreCheck> {
  const backup = backupHost(ctx.model);
  if (backup === undefined)
    throw new Error('this lab has no host with the backup role: add one to foobar.yaml');
  const state = await readDbState(ctx);
  const replica = replicasOf(ctx, state)[0];
  if (replica === undefined)
    throw new Error(`${RESTORE_CHECK.name} compares with a replica held still: this lab has none`);
  const schema = ctx.model.database.schema;

  progress(`holding ${replica.name} still (its SQL thread stopped) to read its tables`);
  const tables = (await runSql(ctx, replica.name, TABLES(schema)))[0]?.map((r) => r.t ?? '') ?? [];
  let gtid = '';
  let live: TableFigures[];
  const heldAt = Date.now();
  await runSql(ctx, replica.name, 'STOP SLAVE SQL_THREAD;');
  try {
    await waitFor(
      `${replica.name}'s SQL thread stopped`,
      async () => {
        const [[row] = []] = await runSql(
          ctx,
          replica.name,
          "SELECT (SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Slave_SQL') AS running, @@global.gtid_slave_pos AS pos;",
        );
        gtid = row?.pos ?? '';
        return row?.running === '0' ? undefined : 'still running';
      },
      { timeoutMs: HOLD_TIMEOUT_MS, intervalMs: 100 },
    );
    live = parseFigures(await runSql(ctx, replica.name, figuresSql(tables, schema), 60_000));
  } finally {
    await runSql(ctx, replica.name, 'START SLAVE SQL_THREAD;');
  }
  if (gtid === '') throw new Error(`${replica.name} has applied no GTID yet: nothing to compare`);

  progress(`waiting for the archive to reach ${gtid}`);
  let rpoSeconds = 0;
  await waitFor(
    `the archive reaching ${replica.name}'s hold at ${gtid}`,
    async () => {
      const at = Date.parse((await recoverableAt(ctx))?.at ?? '');
      rpoSeconds = (Date.now() - heldAt) / 1000;
      return at >= heldAt
        ? undefined
        : `recoverable at ${Number.isNaN(at) ? 'never' : new Date(at).toISOString()}`;
    },
    { timeoutMs: ARCHIVE_TIMEOUT_MS, intervalMs: 500 },
  );

  try {
    const report = await restoreToScratch(ctx, { target: `gtid=${gtid}`, progress });
    const read = await ctx.driver.exec(
      backup.name,
      mariadb.rootSql(report.socket, `${TABLES(schema)}\n`),
    );
    const restoredTables = parseXmlResults(read.stdout)[0]?.map((r) => r.t ?? '') ?? [];
    const figures = await ctx.driver.exec(backup.name, {
      ...mariadb.rootSql(report.socket, figuresSql(restoredTables, schema)),
      timeoutMs: 120_000,
    });
    const restored = parseFigures(parseXmlResults(figures.stdout));
    const missed = compareFigures(live, restored);
    const [want, got] = [parseGtidList(gtid), parseGtidList(report.gtid)];
    if (!hasReached(got, want) || !hasReached(want, got))
      missed.push(`the restore reached ${report.gtid}, not ${gtid}`);
    return {
      check: RESTORE_CHECK.name,
      gtid,
      heldOn: replica.name,
      backup: report.plan.backup.id,
      binlogs: report.plan.binlogs.length,
      rtoSeconds: report.seconds,
      rpoSeconds,
      live,
      restored,
      missed,
      passed: missed.length === 0,
    };
  } finally {
    await discardScratch(ctx);
  }
}

/** What differs between the live tables and the restored ones; empty when they are the same. */
export function compareFigures(
  live: readonly TableFigures[],
  restored: readonly TableFigures[],
): string[] {
  const missed: string[] = [];
  if (live.length === 0) missed.push('the live schema has no table to compare');
  for (const l of live) {
    const r = restored.find((each) => each.table === l.table);
    if (r === undefined) missed.push(`${l.table}: not in the restored data`);
    else if (r.rows !== l.rows || r.checksum !== l.checksum)
      missed.push(
        `${l.table}: ${r.rows} rows (checksum ${r.checksum}) restored, ${l.rows} (checksum ${l.checksum}) live`,
      );
  }
  for (const r of restored)
    if (!live.some((l) => l.table === r.table))
      missed.push(`${r.table}: only in the restored data`);
  return missed;
}
