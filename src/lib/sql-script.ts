/**
 * foobar's SQL scripts (see probes/mariadb.ts) over one mysql2 connection instead of a mariadb
 * client process: what the failover managers and the backup agent use over the network, and the
 * lab's commands over each server's socket. mysql2 is the caller's (imported as a type only
 * here): the command line loads it only when it runs SQL.
 */
import type { Connection, ConnectionOptions } from 'mysql2';
import type { Row } from '../probes/mariadb.ts';

/** How long a connection may take: as the mariadb client's --connect-timeout. */
export const CONNECT_TIMEOUT_MS = 2000;

/**
 * A script for the mariadb client as the server takes it in one multi-statement query: each
 * `DELIMITER x` line dropped, and a statement ended by `x` ended by `;` instead.
 */
export function plainStatements(script: string): string {
  let delimiter = ';';
  const lines: string[] = [];
  for (const line of script.split('\n')) {
    const change = /^\s*DELIMITER\s+(\S+)\s*$/i.exec(line);
    if (change?.[1] !== undefined) {
      delimiter = change[1];
      continue;
    }
    const trimmed = line.trimEnd();
    lines.push(
      delimiter !== ';' && trimmed.endsWith(delimiter)
        ? `${trimmed.slice(0, -delimiter.length)};`
        : line,
    );
  }
  return lines.join('\n');
}

/** mysql2's answer to a multi-statement query: the result sets only, as the client's XML has them. */
export function resultSets(results: unknown): Row[][] {
  const isHeader = (r: unknown): boolean =>
    typeof r === 'object' && r !== null && !Array.isArray(r) && 'affectedRows' in r;
  // One statement: its rows or its header, not wrapped in a list.
  if (isHeader(results)) return [];
  if (!Array.isArray(results)) return [];
  const many = results.some((r) => Array.isArray(r) || isHeader(r));
  const sets = many ? results : [results];
  return sets.filter((r): r is Row[] => Array.isArray(r));
}

/**
 * Runs a script on a connection of its own, closed after: every result set, each value as the
 * text the server sent (or null), as the client's XML has it. `timeoutMs`: the whole script's.
 */
export async function runScript(
  connect: (options: ConnectionOptions) => Connection,
  options: ConnectionOptions,
  sql: string,
  timeoutMs = 60_000,
): Promise<Row[][]> {
  const connection = connect({
    ...options,
    multipleStatements: true,
    typeCast: (field) => field.string(),
    // A script prepares nothing, and mysql2's default cache of 16,000 statements allocates four
    // arrays of that length with every connection: 512 kB of garbage for each script.
    maxPreparedStatements: 1,
  });
  try {
    const results = await new Promise<unknown>((resolve, reject) => {
      connection.query({ sql: plainStatements(sql), timeout: timeoutMs }, (error, answer) => {
        if (error === null) resolve(answer);
        else reject(error);
      });
    });
    return resultSets(results);
  } finally {
    connection.destroy();
  }
}
