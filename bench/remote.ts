/**
 * A bench script of this folder run on a lab host with this Node.js: its settings as JSON on
 * standard input, its result as JSON on standard output. It measures `rounds` rounds of loads of
 * `seconds` each way, and a warm-up: it is killed if it takes twice that and two minutes more.
 */
import type { Context } from '../src/steps/context.ts';

export async function runScript<T>(
  ctx: Context,
  host: string,
  script: string,
  settings: { readonly rounds: number; readonly seconds: number },
): Promise<T> {
  const result = await ctx.driver.exec(host, {
    argv: [process.execPath, script],
    input: JSON.stringify(settings),
    timeoutMs: ((settings.rounds + 1) * 4 * settings.seconds + 120) * 1000,
  });
  return JSON.parse(result.stdout) as T;
}
