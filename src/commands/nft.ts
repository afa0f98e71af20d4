/** nftables: a host's firewall, applied and read inside its namespace. */
import type { Command } from '../drivers/driver.ts';

export const nft = {
  /** Parses the file and checks it against the kernel without applying anything. */
  check: (file: string): Command => ({ argv: ['nft', '-c', '-f', file] }),
  /** Applies the file as one transaction. */
  apply: (file: string): Command => ({ argv: ['nft', '-f', file] }),
  listTable: (family: string, table: string): Command => ({
    argv: ['nft', 'list', 'table', family, table],
    readOnly: true,
  }),
  listSet: (family: string, table: string, set: string): Command => ({
    argv: ['nft', 'list', 'set', family, table, set],
    readOnly: true,
  }),
  /** Applies rules given on standard input as one transaction. */
  applyInput: (rules: string): Command => ({ argv: ['nft', '-f', '-'], input: rules }),
  deleteTable: (family: string, table: string): Command => ({
    argv: ['nft', 'delete', 'table', family, table],
  }),
  /**
   * Sleeps, then applies `previous` and puts it in place of `rules` (the file the boot loads): the
   * timer that undoes a firewall change unless foobar cancels it (kills it) after reaching the
   * host again. The script is constant; its values are arguments.
   */
  rollbackAfter: (seconds: number, previous: string, rules: string): Command => ({
    argv: [
      'sh',
      '-c',
      'sleep "$1" && nft -f "$2" && cp "$2" "$3.rolled-back" && exec mv "$3.rolled-back" "$3"',
      'foobar-firewall-rollback',
      String(seconds),
      previous,
      rules,
    ],
  }),
  listCounter: (family: string, table: string, counter: string): Command => ({
    argv: ['nft', '-j', 'list', 'counter', family, table, counter],
    readOnly: true,
  }),
  /** Every named counter of the table, in one process (status reads two per host). */
  listCounters: (family: string, table: string): Command => ({
    argv: ['nft', '-j', 'list', 'counters', 'table', family, table],
    readOnly: true,
  }),
};

/** Packets of each named counter from `nft -j list counters`. */
export function parseCountersPackets(json: string): Map<string, number> {
  // nft -j prints nothing (exit 0) when it finds no table to list, e.g. while a ruleset is replaced.
  if (json.trim() === '') return new Map();
  const parsed = JSON.parse(json) as {
    nftables?: { counter?: { name?: string; packets?: number } }[];
  };
  const packets = new Map<string, number>();
  for (const { counter } of parsed.nftables ?? []) {
    if (counter?.name !== undefined && counter.packets !== undefined)
      packets.set(counter.name, counter.packets);
  }
  return packets;
}

/** Packets of a named counter from `nft -j list counter`. */
export function parseCounterPackets(json: string): number | undefined {
  const parsed = JSON.parse(json) as { nftables?: { counter?: { packets?: number } }[] };
  return parsed.nftables?.find((entry) => entry.counter !== undefined)?.counter?.packets;
}
