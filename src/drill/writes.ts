/**
 * Acknowledged writes against what the database holds: the one count of lost and duplicated
 * writes, for the drill's table and the tests' assertions alike.
 */
import { runSql, sqlString } from '../probes/mariadb.ts';
import type { Context } from '../steps/context.ts';
import type { AckedMessage } from '../load/visits.ts';

export interface WriteAudit {
  /** How many writes were acknowledged. */
  readonly acked: number;
  /**
   * Acknowledged writes not stored with the id they were acknowledged with, each as
   * `text (id N): [ids stored under that text]`.
   */
  readonly lost: readonly string[];
  /** Texts stored more than once (acknowledged or not). */
  readonly duplicated: readonly string[];
}

/** Each acknowledged write against the rows stored for its run (texts are unique per write). */
export function auditWrites(
  acked: readonly AckedMessage[],
  rows: readonly AckedMessage[],
): WriteAudit {
  const ids = new Map<string, number[]>();
  for (const row of rows) ids.set(row.text, [...(ids.get(row.text) ?? []), row.id]);
  return {
    acked: acked.length,
    lost: acked
      .filter((a) => !(ids.get(a.text) ?? []).includes(a.id))
      .map((a) => `${a.text} (id ${a.id}): ${JSON.stringify(ids.get(a.text) ?? [])}`),
    duplicated: [...ids].filter(([, list]) => list.length > 1).map(([text]) => text),
  };
}

/** The guestbook's rows on database server `host` whose text starts with `<prefix>-`. */
export async function storedMessages(
  ctx: Context,
  host: string,
  prefix: string,
): Promise<AckedMessage[]> {
  const pattern = sqlString(`${prefix}-%`);
  const [rows = []] = await runSql(
    ctx,
    host,
    `SELECT id, text FROM ${ctx.model.database.schema}.messages WHERE text LIKE ${pattern}`,
  );
  return rows.map((row) => ({ id: Number(row.id), text: row.text ?? '' }));
}
