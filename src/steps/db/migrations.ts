/**
 * The app's schema: ordered SQL files in app/migrations (001_messages.sql, ...). Each is written
 * to be safe to run twice (CREATE TABLE IF NOT EXISTS, ...), is applied once on the primary, and
 * is recorded with its checksum, so a migration edited after it was applied is refused.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { runSql, sqlString, type Row } from '../../probes/mariadb.ts';
import type { Context } from '../context.ts';

export interface Migration {
  /** The file name without .sql: "001_messages". */
  readonly id: string;
  readonly sql: string;
  readonly checksum: string;
}

const MIGRATION_FILE = /^(\d{3})_[a-z0-9_]+\.sql$/;

export async function loadMigrations(dir: string): Promise<Migration[]> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  } catch (error) {
    // A release without schema changes has no migrations directory.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read the migrations in ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const seen = new Set<string>();
  return Promise.all(
    names.map(async (name) => {
      const match = MIGRATION_FILE.exec(name);
      if (match?.[1] === undefined) {
        throw new Error(
          `${path.join(dir, name)}: a migration is named NNN_words.sql (e.g. 002_add_index.sql)`,
        );
      }
      if (seen.has(match[1]))
        throw new Error(`${dir}: two migrations are numbered ${match[1]}: renumber one`);
      seen.add(match[1]);
      const sql = await fs.readFile(path.join(dir, name), 'utf8');
      if (!sql.trimEnd().endsWith(';'))
        throw new Error(`${path.join(dir, name)}: end the last statement with a semicolon`);
      return {
        id: name.slice(0, -'.sql'.length),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    }),
  );
}

function schemaSql(schema: string): string {
  return `CREATE DATABASE IF NOT EXISTS \`${schema}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS \`${schema}\`.schema_migrations (
  id VARCHAR(100) NOT NULL PRIMARY KEY,
  checksum CHAR(64) NOT NULL,
  applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE = InnoDB;
`;
}

/**
 * The migrations the primary has applied, creating their table on a fresh server. Asked with
 * reads only when the table exists, so `up --plan` sees what a running primary has.
 */
async function appliedMigrations(ctx: Context, primary: string, schema: string): Promise<Row[]> {
  const [[table] = []] = await runSql(
    ctx,
    primary,
    `SELECT COUNT(*) AS present FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = ${sqlString(schema)} AND TABLE_NAME = 'schema_migrations';`,
  );
  if (table?.present !== '1') {
    await runSql(ctx, primary, schemaSql(schema));
    return [];
  }
  const [applied = []] = await runSql(
    ctx,
    primary,
    `SELECT id, checksum FROM \`${schema}\`.schema_migrations ORDER BY id;`,
  );
  return applied;
}

/** Applies the migrations the primary has not had yet; returns their ids. */
export async function applyMigrations(
  ctx: Context,
  primary: string,
  migrations: readonly Migration[],
): Promise<string[]> {
  const schema = ctx.model.database.schema;
  const applied = await appliedMigrations(ctx, primary, schema);
  for (const row of applied) {
    const migration = migrations.find((m) => m.id === row.id);
    if (migration !== undefined && migration.checksum !== row.checksum) {
      throw new Error(
        `migration ${migration.id} was changed after it was applied on ${primary}: ` +
          'restore it and put the change in a new migration',
      );
    }
  }
  const pending = migrations.filter((m) => !applied.some((row) => row.id === m.id));
  for (const migration of pending) {
    await runSql(
      ctx,
      primary,
      `USE \`${schema}\`;\n${migration.sql}\nINSERT INTO schema_migrations (id, checksum) VALUES (${sqlString(migration.id)}, ${sqlString(migration.checksum)});\n`,
    );
  }
  return pending.map((m) => m.id);
}
