/**
 * Holes the bench makes in the lab's firewalls for a port of its own, and closes again: each rule
 * is inserted first in its chain with a comment that says it is the bench's, its handle is read
 * from nft's echo, and the rule is deleted by that handle afterwards, so the host's ruleset is
 * left as `up` made it.
 */
import { addressOf, type Host } from '../src/model/model.ts';
import type { Command } from '../src/drivers/driver.ts';
import type { Context } from '../src/steps/context.ts';

export const BENCH_RULE_COMMENT = 'foobar bench: closed after the run';

/**
 * An accept rule for TCP to `port`, inserted first in `chain`: on input from `peer` only, on
 * output to it. nft echoes the rule with its handle.
 */
export function insertBenchRule(chain: 'input' | 'output', port: number, peer: string): Command {
  return {
    argv: [
      'nft',
      '--echo',
      '--handle',
      'insert',
      'rule',
      'inet',
      'foobar',
      chain,
      'ip',
      chain === 'input' ? 'saddr' : 'daddr',
      peer,
      'tcp',
      'dport',
      String(port),
      'accept',
      'comment',
      `"${BENCH_RULE_COMMENT}"`,
    ],
  };
}

export function deleteRule(chain: 'input' | 'output', handle: number): Command {
  return {
    argv: ['nft', 'delete', 'rule', 'inet', 'foobar', chain, 'handle', String(handle)],
  };
}

/** The handle of the rule `nft --echo --handle` printed ("... # handle 42"). */
export function echoedHandle(stdout: string): number {
  const found = /# handle (\d+)\s*$/m.exec(stdout);
  if (found?.[1] === undefined) throw new Error(`nft did not echo a rule handle: ${stdout.trim()}`);
  return Number(found[1]);
}

interface Hole {
  readonly host: string;
  readonly chain: 'input' | 'output';
  readonly handle: number;
}

/**
 * Lets `client` open TCP connections to `server`'s core address on each of `ports` (input on the
 * server, output on the client); resolves to what closes them again. A failure part-way closes
 * what was opened before it is thrown.
 */
export async function openCorePorts(
  ctx: Context,
  client: Host,
  server: Host,
  ports: readonly number[],
): Promise<() => Promise<void>> {
  const holes: Hole[] = [];
  const close = async (): Promise<void> => {
    for (const hole of holes.splice(0).reverse())
      await ctx.driver.exec(hole.host, deleteRule(hole.chain, hole.handle));
  };
  try {
    for (const port of ports) {
      for (const [host, chain, peer] of [
        [server, 'input', addressOf(client, 'core')],
        [client, 'output', addressOf(server, 'core')],
      ] as const) {
        const echoed = await ctx.driver.exec(host.name, insertBenchRule(chain, port, peer));
        holes.push({ host: host.name, chain, handle: echoedHandle(echoed.stdout) });
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  return close;
}
