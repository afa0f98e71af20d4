/** lab.json: what `up` built, so `down` removes exactly that even if foobar.yaml changed since. */
import path from 'node:path';
import { labNamespaces } from '../../model/lab.ts';
import { labPaths } from '../../model/layout.ts';
import type { Context } from '../../steps/context.ts';

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

/**
 * Adds this model's namespaces and the /etc/netns files `up` is about to write to the record (a
 * host removed from foobar.yaml stays listed). Recorded before they exist, so `down` finds them
 * even if `up` fails half-way.
 */
export async function recordLab(ctx: Context, netnsFiles: readonly string[] = []): Promise<void> {
  const previous = await readLabRecord(ctx);
  const namespaces = [...new Set([...(previous?.namespaces ?? []), ...labNamespaces(ctx.model)])];
  const files = [...new Set([...(previous?.netnsFiles ?? []), ...netnsFiles])];
  if (
    namespaces.length === previous?.namespaces.length &&
    files.length === (previous.netnsFiles ?? []).length
  )
    return;
  const record: LabRecord = {
    namespaces,
    adminLink: ctx.names.adminLink,
    created: previous?.created ?? new Date().toISOString(),
    netnsFiles: files,
  };
  await ctx.driver.writeFile(null, recordFile(ctx), `${JSON.stringify(record, null, 2)}\n`);
}

export async function removeLabRecord(ctx: Context): Promise<void> {
  await ctx.driver.remove(null, recordFile(ctx));
}
