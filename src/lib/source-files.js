// @ts-check
/**
 * The sources of a tree of this checkout: what a daemon's fingerprint (fingerprint.ts) and the
 * CLI's bundle (cli/bundle-key.js) are made of. JavaScript, as bundle-key.js must be.
 */
import { readdirSync } from 'node:fs';

/**
 * Every source under `dir` (TypeScript, and the few JavaScript modules like this one) but tests,
 * relative to it, in order.
 * @param {string} dir
 * @returns {string[]}
 */
export function sourceFiles(dir) {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.[jt]s$/.test(file) && !/\.test\.[jt]s$/.test(file))
    .sort();
}
