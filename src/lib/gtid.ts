/**
 * MariaDB global transaction ids: "domain-server-sequence", in comma-separated lists as the
 * server prints @@gtid_binlog_pos, @@gtid_binlog_state and Gtid_IO_Pos. With gtid_strict_mode,
 * sequence numbers only grow within a domain, so positions compare domain by domain.
 */

export interface Gtid {
  readonly domain: number;
  readonly server: number;
  readonly seq: bigint;
}

const GTID = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/;

export function parseGtidList(text: string): Gtid[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  return trimmed.split(',').map((part) => {
    const match = GTID.exec(part.trim());
    if (match?.[1] === undefined || match[2] === undefined || match[3] === undefined)
      throw new Error(`not a GTID: "${part}"`);
    return { domain: Number(match[1]), server: Number(match[2]), seq: BigInt(match[3]) };
  });
}

export function formatGtidList(gtids: readonly Gtid[]): string {
  return gtids.map((g) => `${g.domain}-${g.server}-${g.seq}`).join(',');
}

/** The highest sequence number of a domain in a position (0 when the domain is absent). */
function seqIn(position: readonly Gtid[], domain: number): bigint {
  return position
    .filter((g) => g.domain === domain)
    .reduce((max, g) => (g.seq > max ? g.seq : max), 0n);
}

/** True when `position` has reached `target` in every domain of the target. */
export function hasReached(position: readonly Gtid[], target: readonly Gtid[]): boolean {
  return target.every((g) => seqIn(position, g.domain) >= g.seq);
}

/** True when `a` has something `b` has not reached: a later sequence number in some domain. */
export function isAhead(a: readonly Gtid[], b: readonly Gtid[]): boolean {
  return !hasReached(b, a);
}

/**
 * The transactions of a server (its @@gtid_binlog_state: the last GTID of each domain and
 * originating server) that another server's binlog state shows it never had. A server whose
 * state is not covered has history the other lacks: replicating from it would lose or clash.
 */
export function missingFrom(state: readonly Gtid[], reference: readonly Gtid[]): Gtid[] {
  return state.filter((g) => {
    const known = reference.find((r) => r.domain === g.domain && r.server === g.server);
    return known === undefined || known.seq < g.seq;
  });
}

/**
 * The binlog state of a copy taken at `position`, from the source's state read a little later:
 * the position itself, and each other server's last GTID that comes before it. A copy's own
 * binary log starts empty, so this is the history it must claim to be compared with others.
 */
export function stateAtPosition(sourceState: readonly Gtid[], position: readonly Gtid[]): Gtid[] {
  const earlier = sourceState.filter((g) =>
    position.some((p) => p.domain === g.domain && p.server !== g.server && g.seq < p.seq),
  );
  // In sequence order within a domain: the server takes the last one as the domain's position.
  return [...earlier, ...position].sort(
    (a, b) => a.domain - b.domain || (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0),
  );
}
