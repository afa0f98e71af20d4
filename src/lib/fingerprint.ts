/**
 * A fingerprint of the TypeScript a long-running process of this checkout loads: a daemon that
 * runs foobar's own code (the failover managers) is restarted by `foobar up` when it changes,
 * as one that runs a daemon's config is when the config does.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const cache = new Map<string, string>();

/** Every TypeScript source under `dir` but tests, relative to it, in order. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
    .sort();
}

/** sha256 (12 hex digits) of every non-test .ts file under `dir`, by path and content. */
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
