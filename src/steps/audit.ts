/**
 * The append-only record of deploys, rollbacks and automatic failovers, one JSON object per line,
 * kept on the servers beside the lock (`sharedState`): every operator's foobar appends to the
 * same log and reads the same history.
 */
import os from 'node:os';
import { sharedState } from '../model/layout.ts';
import type { Context } from './context.ts';

export interface AuditEntry {
  readonly time: string;
  readonly action:
    | 'deploy'
    | 'rollback'
    | 'first release'
    | 'automatic failover'
    | 'failover refused'
    | 'failover paused'
    | 'failover resumed'
    | 'replication repaired'
    | 'unreached healed'
    | 'primary reopened'
    | 'db restore';
  /** Deploys and rollbacks: the release. */
  readonly release?: string;
  /** Failovers: the database host concerned (the new primary). */
  readonly host?: string;
  /** The release (or the primary) that was live before (undefined on a first release). */
  readonly previous?: string;
  readonly strategy?: string;
  readonly outcome: 'succeeded' | 'failed' | 'rolled back';
  readonly detail?: string;
  readonly seconds: number;
  readonly user: string;
}

export function auditFile(ctx: Context): string {
  return sharedState(ctx.model).audit;
}

/** `user` defaults to the person running foobar; a failover manager names itself. */
export async function appendAudit(
  ctx: Context,
  entry: Omit<AuditEntry, 'time' | 'user'> & { readonly user?: string },
): Promise<void> {
  const line: AuditEntry = {
    time: new Date().toISOString(),
    ...entry,
    user: entry.user ?? process.env.SUDO_USER ?? os.userInfo().username,
  };
  await ctx.driver.appendFile(
    sharedState(ctx.model).host,
    auditFile(ctx),
    `${JSON.stringify(line)}\n`,
  );
}

export async function readAudit(ctx: Context): Promise<AuditEntry[]> {
  const text = (await ctx.driver.readFile(sharedState(ctx.model).host, auditFile(ctx))) ?? '';
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AuditEntry);
}
