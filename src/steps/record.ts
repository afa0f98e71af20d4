/** lab.json: what `up` built, so `down` removes exactly that even if foobar.yaml changed since. */
import path from 'node:path';
import { labNamespaces } from '../model/lab.ts';
import { labPaths } from '../model/layout.ts';
import type { Context } from './context.ts';

export interface LabRecord {
  readonly namespaces: readonly string[];
  readonly adminLink: string;
  readonly created: string;
}

function recordFile(ctx: Context): string {
  return path.join(labPaths(ctx.model).state, 'lab.json');
}

export async function readLabRecord(ctx: Context): Promise<LabRecord | undefined> {
  const text = await ctx.driver.readFile(null, recordFile(ctx));
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as LabRecord;
  } catch {
    return undefined;
  }
}

/** Adds this model's namespaces to the record (a host removed from foobar.yaml stays listed). */
export async function recordLab(ctx: Context): Promise<void> {
  const previous = await readLabRecord(ctx);
  const namespaces = [...new Set([...(previous?.namespaces ?? []), ...labNamespaces(ctx.model)])];
  if (namespaces.length === previous?.namespaces.length) return;
  const record: LabRecord = {
    namespaces,
    adminLink: ctx.names.adminLink,
    created: previous?.created ?? new Date().toISOString(),
  };
  await ctx.driver.writeFile(null, recordFile(ctx), `${JSON.stringify(record, null, 2)}\n`);
}

export async function removeLabRecord(ctx: Context): Promise<void> {
  await ctx.driver.remove(null, recordFile(ctx));
}
