/** A release's manifest: every file with its checksum; the release id derives from them. */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export const MANIFEST_FILE = 'manifest.json';

export interface Manifest {
  readonly id: string;
  /** Relative path → sha256 (hex), sorted by path. */
  readonly files: Readonly<Record<string, string>>;
}

/** The id is a hash of the sorted (path, checksum) list: the same files give the same id. */
export function releaseId(files: Readonly<Record<string, string>>): string {
  const hash = createHash('sha256');
  for (const [file, sum] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
    hash.update(`${file}\0${sum}\n`);
  }
  return hash.digest('hex').slice(0, 12);
}

/** Whether a name is a build's id, as releaseId and the daemons' key make them (12 hex digits). */
export function isBuildId(name: string): boolean {
  return /^[0-9a-f]{12}$/.test(name);
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const entries = await fs.readdir(path.join(dir, prefix), { withFileTypes: true });
  const result: string[] = [];
  for (const entry of entries) {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) result.push(...(await listFiles(dir, relative)));
    else if (entry.isFile() && relative !== MANIFEST_FILE) result.push(relative);
  }
  return result.sort();
}

/** Checksums every file below `dir` (except the manifest itself). */
export async function checksumTree(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const file of await listFiles(dir)) {
    files[file] = createHash('sha256')
      .update(await fs.readFile(path.join(dir, file)))
      .digest('hex');
  }
  return files;
}

export function parseManifest(text: string): Manifest {
  const value = JSON.parse(text) as Partial<Manifest>;
  if (typeof value.id !== 'string' || typeof value.files !== 'object') {
    throw new Error('not a foobar release manifest');
  }
  return { id: value.id, files: value.files };
}

/** Files that differ from the manifest: changed, missing or extra. Empty when the copy is intact. */
export function diffManifest(
  manifest: Manifest,
  actual: Readonly<Record<string, string>>,
): string[] {
  const problems: string[] = [];
  for (const [file, sum] of Object.entries(manifest.files)) {
    const found = actual[file];
    if (found === undefined) problems.push(`${file}: missing`);
    else if (found !== sum) problems.push(`${file}: checksum differs`);
  }
  for (const file of Object.keys(actual)) {
    if (!(file in manifest.files)) problems.push(`${file}: not in the release`);
  }
  return problems;
}
