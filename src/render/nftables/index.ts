/**
 * A host's firewall: default-drop input, one accept rule per flow of the model that ends at this
 * host; default-drop output, one accept rule per flow this host opens (the same flows, seen from
 * the other end); every dropped or refused packet counted. Nothing is forwarded: the load
 * balancers join the two networks by proxying, never by routing.
 */
import type { HostPaths } from '../../model/layout.ts';
import path from 'node:path';
import {
  destinationAddresses,
  flowsInto,
  flowsOutOf,
  IP_PROTOCOLS,
  OWN_NEEDS,
  outsideNeeds,
  sourceAddresses,
  standsForInternet,
  type Flow,
} from '../../model/flows.ts';
import type { Host, Model } from '../../model/model.ts';
import { renderedHeader } from '../header.ts';

/** The table foobar owns in every host's namespace; nothing else is touched. */
export const FIREWALL_TABLE = { family: 'inet', name: 'foobar' } as const;

/**
 * foobar's table holding one chain that accepts everything and only names conntrack: loaded
 * before a host's first rules, so that the connections already open (the SSH connection that
 * applies the rules) are tracked when they come. A network namespace tracks nothing until a rule
 * needs it, and the rules answer a segment of a connection conntrack never saw with a reset: the
 * first apply cut the connection it came over, and foobar waited 5 s for ssh to notice. Each
 * connection's next segment (this command's answer) enters the table; the rules replace the chain.
 */
export function renderConnectionTracking(): string {
  const table = `${FIREWALL_TABLE.family} ${FIREWALL_TABLE.name}`;
  return `add table ${table}
flush table ${table}
table ${table} {
    chain track {
        type filter hook output priority filter; policy accept;
        ct state new accept
    }
}
`;
}
/**
 * The set of package mirrors a machine's output lets through (80 and 443/tcp): empty in the
 * rules, filled by provisioning while apt-get runs (each element with a timeout, so it closes by
 * itself should foobar stop meanwhile) and flushed after (src/platform/machines/provision.ts).
 */
export const MIRROR_SET = 'mirrors';
const MIRROR_SET_TYPE = 'type ipv4_addr; flags interval, timeout;';

/** The output rule that lets a machine reach the mirror set's blocks (OWN_NEEDS.mirrors). */
function mirrorRule(): string {
  const { tcp, why } = OWN_NEEDS.mirrors;
  return `ip daddr @${MIRROR_SET} tcp dport ${nftSet(tcp.map(String))} accept comment "outside: ${why}"`;
}
/**
 * nft's input that opens the mirror set to `blocks` for `seconds` (then each element expires by
 * itself), and the one that closes it again (src/platform/machines/provision.ts).
 */
export function openMirrors(blocks: readonly string[], seconds: number): string {
  const table = `${FIREWALL_TABLE.family} ${FIREWALL_TABLE.name}`;
  const elements = blocks.map((block) => `${block} timeout ${seconds}s`).join(', ');
  return blocks.length === 0 ? '' : `add element ${table} ${MIRROR_SET} { ${elements} }\n`;
}

/**
 * The mirror set and its output rule, for a table in force that has neither (rules rendered
 * before them): the same set and rule the rendered rules hold, put first in the output chain.
 */
export function mirrorSetAndRule(): string {
  const table = `${FIREWALL_TABLE.family} ${FIREWALL_TABLE.name}`;
  return `add set ${table} ${MIRROR_SET} { ${MIRROR_SET_TYPE} }
insert rule ${table} output ${mirrorRule()}
`;
}

export function closeMirrors(): string {
  return `flush set ${FIREWALL_TABLE.family} ${FIREWALL_TABLE.name} ${MIRROR_SET}\n`;
}

/** Named counters: `nft list counter inet foobar <name>` reads them. */
export const DROP_COUNTERS = {
  input: 'input_dropped',
  forward: 'forward_dropped',
  output: 'output_refused',
} as const;

export function firewallFile(paths: HostPaths): string {
  return path.join(paths.etc, 'nftables.conf');
}

/**
 * `fenced`: addresses of former primaries (the database state's fenced servers). A web server
 * refuses to open a connection to them (an output rule, reset at once), so a fenced primary
 * cannot take an app's write even when it comes back with its old role and nobody could reach
 * it to stop it. A database server refuses them too: a replica cannot fetch a transaction from
 * a fenced primary, and its I/O thread, reconnecting to a silent one, fails at once instead of
 * waiting out its connect timeout (which held a promotion up by 2 s).
 *
 * A segment from a peer on the private network that belongs to no connection this host knows
 * (not a SYN, so no new connection either; conntrack calls it new) is answered with a reset, as a
 * host without a firewall does, instead of being dropped: dropped, its sender retransmits into a
 * hole for up to 15 minutes. That froze the primary after a silenced replica came back: the old
 * replication connection's dump thread could not end, and every new connection waited behind it
 * (MariaDB 10.11 with semi-sync); answered, it ends at the next retransmission.
 */
export function renderFirewall(model: Model, host: Host, fenced: readonly string[] = []): string {
  const table = `${FIREWALL_TABLE.family} ${FIREWALL_TABLE.name}`;
  const own = new Set(Object.values(host.addresses));
  const mirrored = outsideNeeds(model, host).some(({ need }) => need === 'mirrors');
  const into = flowsInto(model, host).map(({ flow, address }) => ({
    flow,
    addresses: destinationAddresses(model, flow, address),
    what: `${flow.network} ${match(model, flow)}`,
  }));
  // What the internet may send here: a flow from one of our hosts to the same place needs no rule
  // of its own (the monitor's probes of DNS and HTTPS open its output only).
  const internet = into.filter(({ flow }) => flow.from === 'internet');
  const covered = (what: string, addresses: readonly string[]): boolean =>
    internet.some((i) => i.what === what && addresses.every((a) => i.addresses.includes(a)));
  const rules = into.flatMap(({ flow, addresses, what }) => {
    const from = sourceAddresses(model, flow);
    if (from !== 'any' && covered(what, addresses)) return [];
    const others = from === 'any' ? from : from.filter((a) => !own.has(a));
    // A flow from a role no other host has: nothing to accept.
    if (others.length === 0) return [];
    const source = others === 'any' ? '' : `ip saddr ${nftSet(others)} `;
    const comment = `${flow.from} → ${flow.to}: ${flow.why}`;
    return [
      `        iifname "${flow.network}" ${source}ip daddr ${nftSet(addresses)} ${match(model, flow)} accept comment "${comment}"`,
    ];
  });
  return `${renderedHeader('#', `Firewall of ${host.name}`)}
# Replaces foobar's table atomically (nft -f applies the file as one transaction); named counters
# survive a re-apply.
add table ${table}
flush table ${table}

table ${table} {
    counter ${DROP_COUNTERS.input} {
    }

    counter ${DROP_COUNTERS.forward} {
    }

    counter ${DROP_COUNTERS.output} {
    }
${
  mirrored
    ? `
    set ${MIRROR_SET} {
        ${MIRROR_SET_TYPE}
    }
`
    : ''
}
    chain input {
        type filter hook input priority filter; policy drop;
        iif "lo" accept
        ct state established,related accept
${rules.length === 0 ? '        # No flow of the model ends at this host.' : rules.join('\n')}
        iifname "core" tcp flags & (syn | rst) == 0 ct state new reject with tcp reset comment "a peer's segment of a connection this host no longer has: a reset ends it there"
        counter name "${DROP_COUNTERS.input}" drop
    }

    chain forward {
        type filter hook forward priority filter; policy drop;
        counter name "${DROP_COUNTERS.forward}" drop
    }
${outputChain(model, host, fenced)}}
${
  mirrored
    ? `# Loading the rules closes the mirror (flush table keeps a set's elements).
flush set ${table} ${MIRROR_SET}
`
    : ''
}`;
}

/** The hosts whose firewalls refuse the fenced former primaries: the clients of a primary. */
export function fencesPrimaries(host: Host): boolean {
  return host.roles.includes('web') || host.roles.includes('db');
}

/**
 * Default-drop output: loopback, the fenced primaries refused (before established connections
 * are let on, so one still open to it is reset at its next segment), replies, then one rule per
 * flow this host opens. Anything else is refused where it starts and counted: TCP with a reset, so
 * the process gets "connection refused" at once instead of waiting out its connect timeout;
 * anything else dropped, which the kernel reports to the sender at once (EPERM), and which sends
 * no ICMP (which the kernel rate-limits: a burst of rejects would turn into timeouts). The hosts
 * that stand for the internet keep an open output: not ours to restrict.
 */
function outputChain(model: Model, host: Host, fenced: readonly string[]): string {
  const own = new Set(Object.values(host.addresses));
  const others = fencesPrimaries(host) ? fenced.filter((address) => !own.has(address)) : [];
  const fence =
    others.length === 0
      ? []
      : [
          `        ip daddr ${nftSet([...others].sort())} tcp dport ${model.ports.mysql} reject with tcp reset comment "fenced former primaries: foobar db rejoin lifts it"`,
        ];
  if (standsForInternet(host)) {
    return `
    chain output {
        type filter hook output priority filter; policy accept;
        # This host stands for the internet: what it opens is not restricted.
${fence.map((rule) => `${rule}\n`).join('')}    }
`;
  }
  const rules = flowsOutOf(model, host).map(({ flow, addresses }) => {
    const comment = `${flow.from} → ${flow.to}: ${flow.why}`;
    return `        oifname "${flow.network}" ip daddr ${nftSet(addresses)} ${match(model, flow)} accept comment "${comment}"`;
  });
  // What a machine needs outside the site, whatever link its route takes.
  const outside = outsideNeeds(model, host).flatMap(({ need, addresses }) => {
    if (need === 'mirrors') return [`        ${mirrorRule()}`];
    const wanted = OWN_NEEDS[need];
    return (['udp', 'tcp'] as const).flatMap((proto) =>
      wanted[proto].length === 0
        ? []
        : [
            `        ip daddr ${nftSet(addresses)} ${proto} dport ${nftSet(wanted[proto].map(String))} accept comment "outside: ${wanted.why}"`,
          ],
    );
  });
  const { loopback, ipv6Link } = OWN_NEEDS;
  return `
    chain output {
        type filter hook output priority filter; policy drop;
        oif "lo" accept comment "${loopback.why}"
        icmpv6 type { ${ipv6Link.icmpv6.join(', ')} } accept comment "${ipv6Link.why}"
${fence.map((rule) => `${rule}\n`).join('')}        ct state established,related accept
${rules.length === 0 ? '        # This host opens no flow of the model.' : rules.join('\n')}
${outside.map((rule) => `${rule}\n`).join('')}        meta l4proto tcp counter name "${DROP_COUNTERS.output}" reject with tcp reset comment "refused: the process hears at once"
        counter name "${DROP_COUNTERS.output}" drop
    }
`;
}

/** What a flow's packets carry: a port of TCP or UDP, or an IP protocol number. */
function match(model: Model, flow: Flow): string {
  return flow.proto === 'vrrp'
    ? `ip protocol ${IP_PROTOCOLS[flow.proto]}`
    : `${flow.proto} dport ${model.ports[flow.port]}`;
}

function nftSet(addresses: readonly string[]): string {
  return addresses.length === 1 ? (addresses[0] ?? '') : `{ ${addresses.join(', ')} }`;
}
