/** The append-only record of deploys and rollbacks, one JSON object per line. */
import os from 'node:os';
import path from 'node:path';
import { labPaths } from '../model/layout.ts';
import type { Context } from './context.ts';

export interface AuditEntry {
  readonly time: string;
  readonly action: 'deploy' | 'rollback' | 'first release';
  readonly release: string;
  /** The release that was live before (undefined on a first release). */
  readonly previous?: string;
  readonly strategy?: string;
  readonly outcome: 'succeeded' | 'failed' | 'rolled back';
  readonly detail?: string;
  readonly seconds: number;
  readonly user: string;
}

export function auditFile(ctx: Context): string {
  return path.join(labPaths(ctx.model).state, 'audit.log');
}

export async function appendAudit(
  ctx: Context,
  entry: Omit<AuditEntry, 'time' | 'user'>,
): Promise<void> {
  const line: AuditEntry = {
    time: new Date().toISOString(),
    user: process.env.SUDO_USER ?? os.userInfo().username,
    ...entry,
  };
  await ctx.driver.appendFile(null, auditFile(ctx), `${JSON.stringify(line)}\n`);
}

export async function readAudit(ctx: Context): Promise<AuditEntry[]> {
  const text = (await ctx.driver.readFile(null, auditFile(ctx))) ?? '';
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AuditEntry);
}
