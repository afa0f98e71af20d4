/** lab.json: what `up` built, so `down` removes exactly that even if foobar.yaml changed since. */
import path from 'node:path';
import { labPaths } from '../model/layout.ts';
import type { Context } from './context.ts';

export interface LabRecord {
  readonly namespaces: readonly string[];
  readonly adminLink: string;
  readonly created: string;
  /** Files foobar added under /etc/netns (the clients' resolv.conf). */
  readonly netnsFiles?: readonly string[];
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

export async function writeLabRecord(ctx: Context, record: LabRecord): Promise<void> {
  await ctx.driver.writeFile(null, recordFile(ctx), `${JSON.stringify(record, null, 2)}\n`);
}

export async function removeLabRecord(ctx: Context): Promise<void> {
  await ctx.driver.remove(null, recordFile(ctx));
}
