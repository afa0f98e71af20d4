/**
 * The programs the bench's parts run on this machine beyond the lab's own daemons, checked before
 * the lab comes up: a part that found its tool missing would fail half an hour into a whole run.
 * scripts/bootstrap.sh installs every one (wrk, nghttp2-client, valgrind, linux-perf).
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** Each part's programs (a part not named here needs none of its own). */
export const PART_TOOLS: Readonly<Record<string, readonly string[]>> = {
  tiers: ['wrk'],
  bare: ['wrk', 'h2load', 'openssl'],
  features: ['wrk', 'h2load', 'openssl'],
  profile: ['valgrind', 'callgrind_control', 'h2load'],
  sampled: ['wrk', 'perf'],
  backends: ['wrk', 'openssl'],
  reload: ['wrk'],
  deploys: ['wrk'],
  commands: ['wrk'],
};

/** Whether `program` is an executable file in one of PATH's directories. */
export function onPath(program: string, pathVariable = process.env.PATH ?? ''): boolean {
  return pathVariable
    .split(path.delimiter)
    .filter((dir) => dir !== '')
    .some((dir) => {
      try {
        accessSync(path.join(dir, program), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/**
 * What is missing for `parts`, as one message that says what to do, or undefined when nothing
 * is: each program missing, with the parts that need it.
 */
export function missingTools(
  parts: Iterable<string>,
  has: (program: string) => boolean = onPath,
): string | undefined {
  const needed = new Map<string, string[]>();
  for (const part of parts)
    for (const tool of PART_TOOLS[part] ?? [])
      needed.set(tool, [...(needed.get(tool) ?? []), part]);
  const missing = [...needed].filter(([tool]) => !has(tool));
  if (missing.length === 0) return undefined;
  const list = missing
    .map(([tool, by]) => `${tool} (${by.length === 1 ? 'part' : 'parts'} ${by.join(', ')})`)
    .join(', ');
  return `not installed: ${list}. Run bash scripts/bootstrap.sh (as root) to install them, or leave those parts out with BENCH_PARTS`;
}
