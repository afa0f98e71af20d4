/**
 * A file replaced whole: written beside itself, then renamed over the old one, so a reader sees
 * the old content or the new, never a file cut short (a write in place truncates it first).
 */
import { rename, writeFile } from 'node:fs/promises';

let written = 0;

export async function replaceFile(file: string, content: string, mode = 0o644): Promise<void> {
  written += 1;
  const temp = `${file}.${process.pid}.${written}.tmp`;
  await writeFile(temp, content, { mode });
  await rename(temp, file);
}
