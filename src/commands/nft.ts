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
  /**
   * Runs until stopped: every `seconds`, the table's named counters written to `file` in
   * Prometheus' text format (node exporter's textfile collector serves it), replaced whole (aside
   * and renamed) so a scrape never reads half of it. A failed listing (the table being replaced)
   * keeps the last file. Stopped (TERM), it ends its sleep too: nothing is left running. The
   * script and the awk program are constant; their values are arguments.
   */
  countersToTextfile: (family: string, table: string, file: string, seconds: number): Command => ({
    argv: [
      'sh',
      '-c',
      COUNTERS_SCRIPT,
      'foobar-firewall-counts',
      family,
      table,
      file,
      String(seconds),
      COUNTERS_AWK,
    ],
  }),
};

/** The metric the firewall's named counters become, labelled by counter name. */
export const FIREWALL_PACKETS_METRIC = 'foobar_firewall_packets_total';
/** When the counters were last read (the writer's heartbeat). */
export const FIREWALL_COUNTS_TIME_METRIC = 'foobar_firewall_counts_timestamp_seconds';

/**
 * Prometheus' text format from `nft list counters` and the time (awk's systime(): gawk and Debian's
 * mawk both have it, so no `date` runs each round).
 */
export const COUNTERS_AWK = [
  `BEGIN { print "# HELP ${FIREWALL_PACKETS_METRIC} Packets counted by the host firewall, by named counter."; print "# TYPE ${FIREWALL_PACKETS_METRIC} counter" }`,
  '$1 == "counter" { name = $2 }',
  `$1 == "packets" { printf "${FIREWALL_PACKETS_METRIC}{counter=\\"%s\\"} %s\\n", name, $2 }`,
  `END { print "# HELP ${FIREWALL_COUNTS_TIME_METRIC} When the counters were read."; print "# TYPE ${FIREWALL_COUNTS_TIME_METRIC} gauge"; print "${FIREWALL_COUNTS_TIME_METRIC} " systime() }`,
].join('; ');

// One line each: a systemd ExecStart takes no newline inside an argument.
const COUNTERS_SCRIPT = [
  "trap 'kill $! 2>/dev/null; exit 0' TERM INT",
  'while :',
  'do if nft list counters table "$1" "$2" > "$3.nft"',
  'then awk "$5" "$3.nft" > "$3.new" && mv "$3.new" "$3"',
  'fi',
  'sleep "$4" & wait $!',
  'done',
].join('; ');

/** What the file holds before the first reading: the time only (the writer has started). */
export function firewallCountsStarted(nowSeconds: number): string {
  return `# TYPE ${FIREWALL_COUNTS_TIME_METRIC} gauge\n${FIREWALL_COUNTS_TIME_METRIC} ${nowSeconds}\n`;
}
/**
 * What a counts file says (see COUNTERS_AWK): each named counter's packets and when they were read
 * (seconds since the epoch; undefined when the file has no time).
 */
export function parseCountsFile(text: string): { at?: number; packets: Map<string, number> } {
  const sample = new RegExp(`^${FIREWALL_PACKETS_METRIC}\\{counter="([^"]+)"\\} (\\d+)$`, 'gm');
  const packets = new Map<string, number>();
  for (const [, name, value] of text.matchAll(sample))
    if (name !== undefined) packets.set(name, Number(value));
  const at = new RegExp(`^${FIREWALL_COUNTS_TIME_METRIC} (\\d+)$`, 'm').exec(text)?.[1];
  return at === undefined ? { packets } : { at: Number(at), packets };
}

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
