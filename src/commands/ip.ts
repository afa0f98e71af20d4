/** iproute2 commands for the lab's namespaces, bridges and links. Run on this machine. */
import type { Command } from '../drivers/driver.ts';

export const ip = {
  netnsList: (): Command => ({ argv: ['ip', '-json', 'netns', 'list'], readOnly: true }),
  netnsAdd: (ns: string): Command => ({ argv: ['ip', 'netns', 'add', ns] }),
  netnsDelete: (ns: string): Command => ({ argv: ['ip', 'netns', 'delete', ns] }),
  /** A veth pair whose ends are created directly inside their namespaces (no name clash here). */
  vethPair: (a: { ns: string; name: string }, b: { ns: string | null; name: string }): Command => ({
    argv: [
      'ip',
      'link',
      'add',
      a.name,
      'netns',
      a.ns,
      'type',
      'veth',
      'peer',
      'name',
      b.name,
      ...(b.ns === null ? [] : ['netns', b.ns]),
    ],
  }),
  bridgeAdd: (ns: string, name: string): Command => ({
    argv: ['ip', '-n', ns, 'link', 'add', name, 'type', 'bridge'],
  }),
  linkSetMaster: (ns: string, dev: string, bridge: string): Command => ({
    argv: ['ip', '-n', ns, 'link', 'set', dev, 'master', bridge],
  }),
  linkUp: (ns: string | null, dev: string): Command => ({
    argv: [...ipIn(ns), 'link', 'set', dev, 'up'],
  }),
  linkDown: (ns: string | null, dev: string): Command => ({
    argv: [...ipIn(ns), 'link', 'set', dev, 'down'],
  }),
  linkDelete: (ns: string | null, dev: string): Command => ({
    argv: [...ipIn(ns), 'link', 'delete', dev],
  }),
  linkShow: (ns: string | null, dev: string): Command => ({
    argv: [...ipIn(ns), '-json', 'link', 'show', 'dev', dev],
    readOnly: true,
  }),
  addrAdd: (ns: string | null, dev: string, cidr: string): Command => ({
    argv: [...ipIn(ns), 'addr', 'add', cidr, 'dev', dev],
  }),
  addrDelete: (ns: string | null, dev: string, cidr: string): Command => ({
    argv: [...ipIn(ns), 'addr', 'del', cidr, 'dev', dev],
  }),
  addrShow: (ns: string | null): Command => ({
    argv: [...ipIn(ns), '-json', 'addr', 'show'],
    readOnly: true,
  }),
  routeList: (): Command => ({ argv: ['ip', '-json', 'route', 'show'], readOnly: true }),
  /** PIDs of every process inside a namespace. */
  netnsPids: (ns: string): Command => ({ argv: ['ip', 'netns', 'pids', ns], readOnly: true }),
};

function ipIn(ns: string | null): string[] {
  return ns === null ? ['ip'] : ['ip', '-n', ns];
}
