/**
 * The commands that build the machines' image and boot them, as argv data (see src/commands/).
 * All run on this machine; the guests are reached over SSH only (`ssh` below).
 */
import type { Command } from '../../src/drivers/driver.ts';
import { quoteArgv } from '../../src/drivers/quote.ts';

/** debootstrap fetches and unpacks a few hundred packages: minutes on a slow mirror. */
const DEBOOTSTRAP_TIMEOUT_MS = 20 * 60_000;
/** apt-get inside the layer: downloads and configures the daemons' packages. */
const APT_TIMEOUT_MS = 30 * 60_000;

/**
 * The guest's supervisor: a shell that joins the machine's own cgroups (this host has no systemd,
 * so `--keep-unit` would otherwise put every machine in the same root cgroups) and relaunches
 * systemd-nspawn when the guest reboots (exit 133). A fixed script: the values come as arguments.
 * $1 root, $2 machine name, $3 core bridge, $4 edge bridge ('' for one network), $5... the
 * cgroup.procs files to join.
 *
 * With one network the guest's link is nspawn's `host0` on the bridge. With two, the guest has
 * links named `core` and `edge` (the names foobar's firewall and keepalived use), each a veth
 * whose host side (`BRIDGE-N`, N the last octet of the machine's address, so two sets of machines
 * with the same names never share a link name) this script puts on its bridge once nspawn made it,
 * at each launch (a reboot makes them anew).
 */
const SUPERVISOR_SCRIPT = `root=$1 name=$2 bridge=$3 edge=$4 corelink=$5 edgelink=$6; shift 6
for procs in "$@"; do echo $$ >"$procs" || exit 1; done
attach() { # host link, bridge: wait (bounded) for nspawn to make the link, then bridge it
  for _ in $(seq 300); do
    if ip link set "$1" master "$2" up 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$(date -u +%FT%TZ) $name: link $1 never appeared"
}
while :; do
  if [ -z "$edge" ]; then
    systemd-nspawn --quiet --directory="$root" --machine="$name" --boot --register=no --keep-unit \\
      --network-bridge="$bridge" --console=passive </dev/null
    rc=$?
  else
    systemd-nspawn --quiet --directory="$root" --machine="$name" --boot --register=no --keep-unit \\
      --network-veth-extra="$corelink:core" --network-veth-extra="$edgelink:edge" \\
      --console=passive </dev/null &
    nspawn=$!
    attach "$corelink" "$bridge"
    attach "$edgelink" "$edge"
    wait "$nspawn"
    rc=$?
  fi
  [ "$rc" -eq 133 ] || exit "$rc"
  echo "$(date -u +%FT%TZ) $name rebooted: relaunching"
done`;

export const machineCommands = {
  /** A minimal Debian with `include` on top (the variant debootstrap calls minbase). */
  debootstrap: (
    suite: string,
    dir: string,
    mirror: string,
    include: readonly string[],
  ): Command => ({
    argv: [
      'debootstrap',
      '--variant=minbase',
      `--include=${include.join(',')}`,
      suite,
      dir,
      mirror,
    ],
    timeoutMs: DEBOOTSTRAP_TIMEOUT_MS,
  }),
  /**
   * Runs one program inside a root directory, not booted: the host's network, no machine
   * registration (no systemd here), output through pipes.
   */
  inRoot: (root: string, argv: readonly string[]): Command => ({
    argv: [
      'systemd-nspawn',
      '--quiet',
      '--register=no',
      '--keep-unit',
      '--pipe',
      `--directory=${root}`,
      '--setenv=DEBIAN_FRONTEND=noninteractive',
      ...argv,
    ],
    timeoutMs: APT_TIMEOUT_MS,
  }),
  /** An overlay: `lower` read-only, topmost first; writes land in `upper`. */
  mountOverlay: (
    lower: readonly string[],
    upper: string,
    work: string,
    target: string,
  ): Command => ({
    argv: [
      'mount',
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work}`,
      target,
    ],
  }),
  umount: (target: string): Command => ({ argv: ['umount', target] }),
  /** Exit 0 when `dir` is a mount point. */
  mountpoint: (dir: string): Command => ({ argv: ['mountpoint', '-q', dir] }),
  bridgeAdd: (name: string): Command => ({ argv: ['ip', 'link', 'add', name, 'type', 'bridge'] }),
  /** Bytes used by a directory tree (apparent sizes, hard links once). */
  diskUsage: (dir: string): Command => ({ argv: ['du', '-sb', dir] }),
  /** A key pair with no passphrase: the tests' own key, never the user's. */
  keygen: (file: string, comment: string): Command => ({
    argv: ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file],
  }),
  /** Generates every missing host key type under `root`/etc/ssh. */
  hostKeys: (root: string): Command => ({ argv: ['ssh-keygen', '-A', '-f', root] }),
  /**
   * nspawn's name for a machine: the run's bridge and the machine's name, unique on this machine.
   * Two runs at once (the test files run two at a time) may both have an m1 or an lb-01, and
   * nspawn names its host-side veth (vb-NAME) and /run/systemd/nspawn/propagate/NAME after it.
   * The guest's hostname is its own name still (its /etc/hostname).
   */
  nspawnName: (bridge: string, machine: { readonly name: string }): string =>
    `${bridge}-${machine.name}`,
  supervise: (
    root: string,
    machine: { readonly name: string; readonly address: string },
    bridge: string,
    edgeBridge: string | undefined,
    cgroupProcs: readonly string[],
  ): Command => {
    const octet = machine.address.split('.').at(-1) ?? '';
    return {
      argv: [
        'bash',
        '-c',
        SUPERVISOR_SCRIPT,
        `foobar-machine-${machine.name}`,
        root,
        machineCommands.nspawnName(bridge, machine),
        bridge,
        edgeBridge ?? '',
        `${bridge}-${octet}`,
        edgeBridge === undefined ? '' : `${edgeBridge}-${octet}`,
        ...cgroupProcs,
      ],
    };
  },
  /** Runs `argv` in every namespace of a process (the guest's PID 1): for stopping a machine. */
  nsenter: (pid: number, argv: readonly string[]): Command => ({
    argv: ['nsenter', '-t', String(pid), '-a', ...argv],
  }),
};

export interface SshAccess {
  readonly identity: string;
  readonly knownHosts: string;
}

/**
 * The OpenSSH client options the tests use: their own key only, host keys pinned in their own
 * known_hosts (strict), never a prompt.
 */
export function sshOptions(access: SshAccess, connectTimeoutS = 3): string[] {
  return [
    '-i',
    access.identity,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${access.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${connectTimeoutS}`,
    '-o',
    'LogLevel=ERROR',
  ];
}

/** `argv` on a machine as root, quoted once for the remote shell. */
export function ssh(
  access: SshAccess,
  address: string,
  argv: readonly string[],
  timeoutMs = 30_000,
): Command {
  return {
    argv: ['ssh', ...sshOptions(access), `root@${address}`, '--', quoteArgv(argv)],
    timeoutMs,
  };
}
