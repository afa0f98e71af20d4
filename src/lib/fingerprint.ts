/**
 * A fingerprint of the sources a long-running process of this checkout loads: a daemon that
 * runs foobar's own code (the failover managers) is restarted by `foobar up` when it changes,
 * as one that runs a daemon's config is when the config does.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sourceFiles } from './source-files.js';

const cache = new Map<string, string>();

/** sha256 (12 hex digits) of every source under `dir` but tests, by path and content. */
export function sourceFingerprint(dir: string): string {
  const known = cache.get(dir);
  if (known !== undefined) return known;
  const hash = createHash('sha256');
  for (const file of sourceFiles(dir)) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(path.join(dir, file)));
    hash.update('\0');
  }
  const digest = hash.digest('hex').slice(0, 12);
  cache.set(dir, digest);
  return digest;
}
