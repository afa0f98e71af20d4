/**
 * Booted Debian 12 machines on this machine, for the tests of the machines platform: each one a
 * systemd-nspawn container with systemd as PID 1 and sshd, on an overlay of the cached image, on
 * a private bridge. They are reached over SSH only, with the tests' own key and pinned host keys.
 * There is no route out of them (no forwarding or NAT here): the image holds every package.
 *
 * This host has no systemd: nspawn runs with --register=no --keep-unit, each machine in cgroups of
 * its own, under a supervisor that relaunches it when the guest reboots (see commands.ts).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ip } from '../../src/commands/ip.ts';
import { proc } from '../../src/commands/proc.ts';
import type { Driver, ExecResult } from '../../src/drivers/driver.ts';
import { quoteArgv } from '../../src/drivers/quote.ts';
import { sleep, waitFor } from '../../src/lib/wait.ts';
import { machineCommands as cmd, ssh, sshOptions, type SshAccess } from './commands.ts';
import type { Image } from './image.ts';

export const MACHINES_STATE = '/var/lib/foobar/machines';
export const MACHINES_BRIDGE = 'fbm0';
/** sshd's port in the image (Debian's default): the only way in. */
export const SSH_PORT = 22;
/** The bridge's /24: this machine is .1, machine number i is .(10 + i). */
export const MACHINES_NET = '10.90.0';
const HOST_NUMBER = 1;
const FIRST_MACHINE_NUMBER = 11;
const MAX_MACHINES = 200;
const CGROUP_ROOT = '/sys/fs/cgroup';
/** The hierarchies systemd in the guest needs its own place in (cgroup v1 hybrid host). */
const CGROUP_HIERARCHIES = ['systemd', 'unified'] as const;
/** Left by nspawn on a host whose /run is not a tmpfs. */
const NSPAWN_RUN = '/run/systemd/nspawn';
/** Measured: 2 s from launch to SSH when idle, 22 s at a load average of 14 on 2 cores. */
const READY_TIMEOUT_MS = 120_000;
/** Measured: about 2 s. */
const POWEROFF_TIMEOUT_MS = 30_000;
const NAME = /^[a-z][a-z0-9-]{0,10}$/;

/**
 * Machines on two bridges, named for a run: runs beside others on one machine (engineers, CI) keep
 * apart by FOOBAR_TEST_MACHINES (a short name: its bridges are <name>c and <name>e, its state
 * /var/lib/foobar/machines-<name>) and FOOBAR_TEST_MACHINES_NET (two octets: <net>.20 is the core
 * bridge, <net>.21 the edge one), each file with defaults of its own.
 */
export function machinesOfRun(
  driver: Driver,
  defaults: { readonly name: string; readonly net: string },
  say?: (line: string) => void,
): { name: string; core: string; edge: string; machines: Machines } {
  const name = process.env.FOOBAR_TEST_MACHINES ?? defaults.name;
  const net = process.env.FOOBAR_TEST_MACHINES_NET ?? defaults.net;
  const core = `${net}.20`;
  const edge = `${net}.21`;
  const machines = new Machines({
    driver,
    say,
    stateDir: runStateDir(name),
    bridge: `${name}c`,
    net: core,
    edge: { bridge: `${name}e`, net: edge },
  });
  return { name, core, edge, machines };
}

function runStateDir(name: string): string {
  return `${MACHINES_STATE}-${name}`;
}

/** The names of the runs whose machines' state is on this machine (machinesOfRun's), sorted. */
export function runsOnThisMachine(): string[] {
  const parent = path.dirname(MACHINES_STATE);
  const prefix = `${path.basename(MACHINES_STATE)}-`;
  if (!existsSync(parent)) return [];
  return readdirSync(parent)
    .filter((entry) => entry.startsWith(prefix))
    .map((entry) => entry.slice(prefix.length))
    .sort();
}

export interface Machine {
  readonly name: string;
  /** On the bridge (with two networks: the core one, on the guest's link `core`). */
  readonly address: string;
  /** With two networks: its address on the edge bridge (the guest's link `edge`). */
  readonly edge?: string;
}

const MachineFile = z.object({
  name: z.string(),
  address: z.string(),
  edge: z.string().optional(),
});

export interface MachinesOptions {
  readonly driver: Driver;
  readonly stateDir?: string;
  readonly bridge?: string;
  /** The first three octets of the bridge's /24. */
  readonly net?: string;
  /**
   * A second network, the edge: its bridge and /24 (first three octets). Each machine then has
   * two links, `core` on `bridge` and `edge` on this one, numbered alike; this machine is .1 on
   * both.
   */
  readonly edge?: { readonly bridge: string; readonly net: string };
  readonly say?: (line: string) => void;
}

export interface Readiness {
  readonly machine: Machine;
  /** What `systemctl is-system-running` said once the boot had finished. */
  readonly state: string;
  readonly seconds: number;
}

export interface Memory {
  readonly processes: number;
  readonly rssBytes: number;
  /** Shared pages divided among their users: the fair share of this machine. */
  readonly pssBytes: number;
}

export class Machines {
  readonly stateDir: string;
  readonly bridge: string;
  readonly net: string;
  readonly edge: { readonly bridge: string; readonly net: string } | undefined;
  readonly access: SshAccess;
  readonly #driver: Driver;
  readonly #say: (line: string) => void;
  readonly #cgroupGroup: string;

  constructor(options: MachinesOptions) {
    this.#driver = options.driver;
    this.stateDir = options.stateDir ?? MACHINES_STATE;
    this.bridge = options.bridge ?? MACHINES_BRIDGE;
    this.net = options.net ?? MACHINES_NET;
    this.edge = options.edge;
    // With two networks a machine's host links are BRIDGE-N (N up to three digits): 15 at most.
    for (const bridge of [this.bridge, this.edge?.bridge ?? ''])
      if (bridge.length > 11)
        throw new Error(`bridge name ${bridge}: at most 11 characters (its links are ${bridge}-N)`);
    this.#say = options.say ?? (() => undefined);
    this.#cgroupGroup = `foobar-machines-${this.bridge}`;
    this.access = {
      identity: path.join(this.stateDir, 'id_ed25519'),
      knownHosts: path.join(this.stateDir, 'known_hosts'),
    };
  }

  /** Machines named m1..mN, or the given names, numbered in order. */
  plan(namesOrCount: number | readonly string[]): Machine[] {
    const names =
      typeof namesOrCount === 'number'
        ? Array.from({ length: namesOrCount }, (_, i) => `m${i + 1}`)
        : [...namesOrCount];
    // On one bridge nspawn makes the host's link vb-<its name for the machine>: 15 bytes at most.
    const problems = names.filter(
      (name) =>
        !NAME.test(name) ||
        (this.edge === undefined && cmd.nspawnName(this.bridge, { name }).length > 12),
    );
    if (problems.length > 0 || names.length === 0 || names.length > MAX_MACHINES) {
      throw new Error(
        `machine names: ${problems.length > 0 ? problems.join(', ') : names.length} — give 1 to ${MAX_MACHINES} names of lower-case letters, digits and '-', at most 11 characters (fewer on one bridge: nspawn's host link, vb-${cmd.nspawnName(this.bridge, { name: 'NAME' })}, has 15 at most)`,
      );
    }
    return names.map((name, i) => {
      const number = FIRST_MACHINE_NUMBER + i;
      const address = `${this.net}.${number}`;
      return this.edge === undefined
        ? { name, address }
        : { name, address, edge: `${this.edge.net}.${number}` };
    });
  }

  /** The machines this state directory holds (up, or left by a run that failed). */
  list(): Machine[] {
    if (!existsSync(this.stateDir)) return [];
    return readdirSync(this.stateDir)
      .map((entry) => path.join(this.stateDir, entry, 'machine.json'))
      .filter((file) => existsSync(file))
      .map((file) => MachineFile.parse(JSON.parse(readFileSync(file, 'utf8'))))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  machine(name: string): Machine {
    const found = this.list().find((m) => m.name === name);
    if (found === undefined) {
      const known = this.list().map((m) => m.name);
      throw new Error(
        `no machine ${name} in ${this.stateDir} (${known.length === 0 ? 'none is up: run `npm run machines -- up N`' : `up: ${known.join(', ')}`})`,
      );
    }
    return found;
  }

  /** Boots the machines on the image and waits until each answers over SSH with its boot done. */
  async up(machines: readonly Machine[], image: Image): Promise<Readiness[]> {
    requireRoot();
    const present = this.list();
    const clash = machines.filter((m) =>
      present.some((p) => p.name === m.name || p.address === m.address),
    );
    if (clash.length > 0) {
      throw new Error(
        `${clash.map((m) => `${m.name} (${m.address})`).join(', ')}: name or address already in ${this.stateDir}: run \`npm run machines -- down\` first`,
      );
    }
    // Only the machines' own directory is closed: a recursive mkdir with a mode gives it to every
    // parent it makes, and a /var/lib/foobar made 0700 locks the lab's daemons out of their files.
    await fs.mkdir(path.dirname(this.stateDir), { recursive: true });
    await fs.mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await this.#ensureKey();
    await this.#ensureBridge();
    const preparing = Date.now();
    await Promise.all(machines.map((m) => this.#prepare(m, machines, image)));
    // One after another: each rewrites the one known_hosts file.
    for (const m of machines) await this.#pinHostKeys(m, path.join(this.#dir(m.name), 'root'));
    this.#say(
      `machines: ${machines.length} prepared in ${seconds(preparing)} s (overlays, identities, SSH host keys)`,
    );
    const launched = Date.now();
    for (const m of machines) await this.#launch(m);
    this.#say(`machines: ${machines.length} launched, waiting for SSH`);
    return Promise.all(
      machines.map(async (m) => {
        const r = await this.waitReady(m, launched);
        this.#say(
          `machines: ${m.name} ${m.address} ${r.state} after ${r.seconds.toFixed(1)} s: ${this.sshCommandLine(m)}`,
        );
        return r;
      }),
    );
  }

  /** Waits until SSH answers and the boot has finished (not `initializing`/`starting`). */
  async waitReady(
    machine: Machine,
    since = Date.now(),
    timeoutMs = READY_TIMEOUT_MS,
  ): Promise<Readiness> {
    let state = '';
    await waitFor(
      `${machine.name} (${machine.address}) over SSH`,
      async () => {
        const out = await this.#driver.exec(
          null,
          ssh(this.access, machine.address, ['systemctl', 'is-system-running'], 10_000),
          { check: false },
        );
        state = out.stdout.trim();
        if (out.exitCode === 255) return `ssh: ${out.stderr.trim() || 'no answer'}`;
        return state === 'initializing' || state === 'starting' ? `boot ${state}` : undefined;
      },
      { timeoutMs, intervalMs: 200, maxIntervalMs: 500 },
    );
    return { machine, state, seconds: (Date.now() - since) / 1000 };
  }

  /** Runs a command on a machine as root over SSH; rejects on a non-zero exit. */
  run(machine: Machine, argv: readonly string[], timeoutMs?: number): Promise<ExecResult> {
    return this.#driver.exec(null, ssh(this.access, machine.address, argv, timeoutMs));
  }

  /** What a person types to reach a machine (the options that matter; the rest are defaults). */
  sshCommandLine(machine: Machine): string {
    return quoteArgv([
      'ssh',
      '-i',
      this.access.identity,
      '-o',
      `UserKnownHostsFile=${this.access.knownHosts}`,
      `root@${machine.address}`,
    ]);
  }

  /** An interactive shell (or `argv`) on a machine, with this terminal. */
  attach(machine: Machine, argv: readonly string[]): Promise<number> {
    const remote = argv.length === 0 ? [] : ssh(this.access, machine.address, argv).argv.slice(-1);
    return this.#driver.attach(null, {
      argv: ['ssh', ...sshOptions(this.access), '-t', `root@${machine.address}`, ...remote],
    });
  }

  /**
   * Reboots a machine from inside, as an operator would, and waits until it answers again with a
   * new PID 1 (its supervisor relaunches it). Resolves to the seconds from the reboot to SSH.
   */
  async reboot(machine: Machine): Promise<number> {
    const before = await this.#initStart(machine);
    const started = Date.now();
    // The connection may drop before ssh hears the exit status.
    await this.#driver.exec(null, ssh(this.access, machine.address, ['systemctl', 'reboot']), {
      check: false,
    });
    await waitFor(
      `${machine.name} back after a reboot`,
      async () => {
        const now = await this.#initStart(machine).catch(() => undefined);
        return now === undefined || now === before ? 'still the old boot' : undefined;
      },
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 200, maxIntervalMs: 500 },
    );
    const ready = await this.waitReady(machine, started);
    return ready.seconds;
  }

  /**
   * The machine goes silent: every frame to or from its links is dropped on the bridges' side (an
   * nftables table of the bridge family on this machine, this set's own), its links stay up and it
   * keeps running, as behind a dead switch port. Nothing it sends is answered, nothing sent to it
   * arrives. One silent machine at a time; `unsilence` ends it.
   */
  async silence(machine: Machine): Promise<void> {
    const octet = machine.address.split('.').at(-1) ?? '';
    const ports = this.#bridges().map((bridge) => `"${bridge}-${octet}"`);
    const set = `{ ${ports.join(', ')} }`;
    const table = `bridge ${this.#silenceTable}`;
    await this.#driver.exec(null, {
      argv: ['nft', '-f', '-'],
      input: `table ${table} {
  chain forward { type filter hook forward priority -10; policy accept; iifname ${set} drop; oifname ${set} drop; }
  chain input { type filter hook input priority -10; policy accept; iifname ${set} drop; }
  chain output { type filter hook output priority -10; policy accept; oifname ${set} drop; }
}
`,
    });
  }

  /** The silent machine is heard again. */
  async unsilence(): Promise<void> {
    if (await this.#silenced())
      await this.#driver.exec(null, {
        argv: ['nft', 'delete', 'table', 'bridge', this.#silenceTable],
      });
  }

  get #silenceTable(): string {
    return `foobar_silence_${this.bridge}`;
  }

  async #silenced(): Promise<boolean> {
    const listed = await this.#driver.exec(
      null,
      { argv: ['nft', 'list', 'table', 'bridge', this.#silenceTable] },
      { check: false },
    );
    return listed.exitCode === 0;
  }

  /** The host PID of the machine's systemd (its PID 1), or undefined when it is not running. */
  leaderPid(machine: Machine): number | undefined {
    for (const group of ['payload/init.scope', 'payload']) {
      const file = path.join(this.#cgroupDir('systemd', machine.name), group, 'cgroup.procs');
      const first = existsSync(file) ? readFileSync(file, 'utf8').split('\n')[0] : undefined;
      if (first !== undefined && first !== '') return Number(first);
    }
    return undefined;
  }

  /** Memory of every process of the machine: its supervisor, nspawn and the guest's processes. */
  memory(machine: Machine): Memory {
    const pids = procsUnder(this.#cgroupDir('systemd', machine.name));
    let rssBytes = 0;
    let pssBytes = 0;
    for (const pid of pids) {
      rssBytes += kbField(`/proc/${pid}/status`, 'VmRSS');
      pssBytes += kbField(`/proc/${pid}/smaps_rollup`, 'Pss');
    }
    return { processes: pids.length, rssBytes, pssBytes };
  }

  /** Powers every machine off, unmounts, removes cgroups, the bridge and the state: leaves nothing. */
  async down(): Promise<void> {
    requireRoot();
    const machines = this.list();
    await this.unsilence();
    await Promise.all(machines.map((m) => this.#stop(m)));
    for (const dir of this.#strayRoots()) await this.#driver.exec(null, cmd.umount(dir));
    for (const bridge of this.#bridges()) {
      if (await this.#bridgeExists(bridge))
        await this.#driver.exec(null, ip.linkDelete(null, bridge));
    }
    for (const h of CGROUP_HIERARCHIES)
      removeCgroupTree(path.join(CGROUP_ROOT, h, this.#cgroupGroup));
    await fs.rm(this.stateDir, { recursive: true, force: true });
    // nspawn's own directories, when no other container uses them, nor will: another run of
    // machines (the test files run two at a time) has its state before it starts nspawn, and
    // whichever run ends last removes them.
    if (otherRuns(this.stateDir).length === 0) {
      for (const sub of ['propagate', 'locks', '']) await rmdirIfEmpty(path.join(NSPAWN_RUN, sub));
    }
    // /var/lib/foobar, when nothing else of foobar's is in it: as the machine was before.
    await rmdirIfEmpty(path.dirname(this.stateDir));
    const left = await this.leftovers(machines);
    if (left.length > 0) throw new Error(`machines down left:\n  ${left.join('\n  ')}`);
    this.#say(`machines: down (${machines.length} stopped), nothing left`);
  }

  /** Everything `up` creates that still exists: empty after `down`. */
  async leftovers(machines: readonly Machine[] = this.list()): Promise<string[]> {
    const left: string[] = [];
    for (const pid of this.#ourProcesses()) left.push(`process ${pid}: ${cmdline(pid).join(' ')}`);
    for (const dir of this.#strayRoots()) left.push(`mount ${dir}`);
    for (const bridge of this.#bridges()) {
      if (await this.#bridgeExists(bridge)) left.push(`bridge ${bridge}`);
    }
    if (await this.#silenced()) left.push(`nftables table bridge ${this.#silenceTable}`);
    for (const h of CGROUP_HIERARCHIES) {
      const dir = path.join(CGROUP_ROOT, h, this.#cgroupGroup);
      if (existsSync(dir)) left.push(`cgroup ${dir}`);
    }
    if (existsSync(this.stateDir)) left.push(`state ${this.stateDir}`);
    for (const m of machines) {
      const propagate = this.#propagateDir(m);
      if (existsSync(propagate)) left.push(`nspawn directory ${propagate}`);
    }
    return left;
  }

  async #ensureKey(): Promise<void> {
    if (existsSync(this.access.identity)) return;
    await this.#driver.exec(null, cmd.keygen(this.access.identity, 'foobar machines test key'));
    await fs.chmod(this.access.identity, 0o600);
  }

  async #ensureBridge(): Promise<void> {
    const nets = [
      { bridge: this.bridge, net: this.net },
      ...(this.edge === undefined ? [] : [this.edge]),
    ];
    for (const { bridge, net } of nets) {
      if (await this.#bridgeExists(bridge)) continue;
      await this.#driver.exec(null, cmd.bridgeAdd(bridge));
      await this.#driver.exec(null, ip.addrAdd(null, bridge, `${net}.${HOST_NUMBER}/24`));
      await this.#driver.exec(null, ip.linkUp(null, bridge));
    }
  }

  #bridges(): string[] {
    return [this.bridge, ...(this.edge === undefined ? [] : [this.edge.bridge])];
  }

  async #bridgeExists(bridge: string): Promise<boolean> {
    const shown = await this.#driver.exec(null, ip.linkShow(null, bridge), { check: false });
    return shown.exitCode === 0;
  }

  /** Its own root (an overlay of the image), name, address, machine-id, SSH host keys and key. */
  async #prepare(machine: Machine, all: readonly Machine[], image: Image): Promise<void> {
    const dir = this.#dir(machine.name);
    const root = path.join(dir, 'root');
    for (const sub of ['upper', 'work', 'root'])
      await fs.mkdir(path.join(dir, sub), { recursive: true });
    await this.#driver.writeFile(
      null,
      path.join(dir, 'machine.json'),
      `${JSON.stringify(machine)}\n`,
      0o644,
    );
    await this.#driver.exec(
      null,
      cmd.mountOverlay(image.lowerDirs, path.join(dir, 'upper'), path.join(dir, 'work'), root),
    );
    const write = (file: string, text: string, mode = 0o644): Promise<void> =>
      this.#driver.writeFile(null, path.join(root, file), text, mode);
    await write('etc/hostname', `${machine.name}\n`);
    await write('etc/machine-id', `${randomBytes(16).toString('hex')}\n`, 0o444);
    await write(
      'etc/hosts',
      [
        '127.0.0.1\tlocalhost',
        `127.0.1.1\t${machine.name}`,
        '::1\tlocalhost ip6-localhost ip6-loopback',
        ...all.map((m) => `${m.address}\t${m.name}`),
        '',
      ].join('\n'),
    );
    // No gateway: the machines have no route out of their bridges.
    const links =
      machine.edge === undefined
        ? [{ link: 'host0', address: machine.address }]
        : [
            { link: 'core', address: machine.address },
            { link: 'edge', address: machine.edge },
          ];
    for (const { link, address } of links) {
      await write(
        `etc/systemd/network/10-${link}.network`,
        `[Match]\nName=${link}\n\n[Network]\nAddress=${address}/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`,
      );
    }
    await fs.mkdir(path.join(root, 'root/.ssh'), { recursive: true, mode: 0o700 });
    await fs.chmod(path.join(root, 'root/.ssh'), 0o700);
    const publicKey = await fs.readFile(`${this.access.identity}.pub`, 'utf8');
    await write('root/.ssh/authorized_keys', publicKey, 0o600);
    await this.#driver.exec(null, cmd.hostKeys(root));
  }

  /** The host keys just generated, pinned for this address (replacing an older machine's). */
  async #pinHostKeys(machine: Machine, root: string): Promise<void> {
    const sshDir = path.join(root, 'etc/ssh');
    const lines = readdirSync(sshDir)
      .filter((file) => file.startsWith('ssh_host_') && file.endsWith('.pub'))
      .sort()
      .map((file) => {
        const [type, key] = readFileSync(path.join(sshDir, file), 'utf8').trim().split(/\s+/);
        return `${machine.address} ${type ?? ''} ${key ?? ''}`;
      });
    const kept = existsSync(this.access.knownHosts)
      ? readFileSync(this.access.knownHosts, 'utf8')
          .split('\n')
          .filter((line) => line !== '' && !line.startsWith(`${machine.address} `))
      : [];
    await this.#driver.writeFile(
      null,
      this.access.knownHosts,
      `${[...kept, ...lines].join('\n')}\n`,
      0o600,
    );
  }

  async #launch(machine: Machine): Promise<void> {
    const procs = CGROUP_HIERARCHIES.map((h) => {
      const dir = this.#cgroupDir(h, machine.name);
      return path.join(dir, 'cgroup.procs');
    });
    for (const h of CGROUP_HIERARCHIES)
      await fs.mkdir(this.#cgroupDir(h, machine.name), { recursive: true });
    const dir = this.#dir(machine.name);
    const pid = await this.#driver.spawn(
      null,
      cmd.supervise(path.join(dir, 'root'), machine, this.bridge, this.edge?.bridge, procs),
      { logFile: path.join(dir, 'console.log') },
    );
    await this.#driver.writeFile(null, path.join(dir, 'supervisor.pid'), `${pid}\n`, 0o644);
  }

  /** A clean poweroff from inside; if it does not end in time, SIGTERM to nspawn (a clean halt). */
  async #stop(machine: Machine): Promise<void> {
    const leader = this.leaderPid(machine);
    if (leader !== undefined) {
      await this.#driver.exec(null, cmd.nsenter(leader, ['systemctl', 'poweroff']), {
        check: false,
      });
    }
    const supervisor = this.#supervisorPid(machine);
    if (supervisor !== undefined && !(await exits(supervisor, POWEROFF_TIMEOUT_MS))) {
      this.#say(`machines: ${machine.name} did not power off in time: stopping its nspawn`);
      for (const pid of this.#ourProcesses(machine)) {
        await this.#driver.exec(null, proc.kill(pid === supervisor ? 'KILL' : 'TERM', pid), {
          check: false,
        });
      }
      if (!(await exits(supervisor, POWEROFF_TIMEOUT_MS))) {
        throw new Error(`${machine.name}: supervisor ${supervisor} still running after SIGKILL`);
      }
    }
    await waitFor(
      `${machine.name}: its processes gone`,
      () =>
        Promise.resolve(
          this.#ourProcesses(machine).length > 0 ? 'nspawn still running' : undefined,
        ),
      { timeoutMs: POWEROFF_TIMEOUT_MS },
    );
    const root = path.join(this.#dir(machine.name), 'root');
    const mounted = await this.#driver.exec(null, cmd.mountpoint(root), { check: false });
    if (mounted.exitCode === 0) await this.#driver.exec(null, cmd.umount(root));
    for (const h of CGROUP_HIERARCHIES) removeCgroupTree(this.#cgroupDir(h, machine.name));
    await fs.rm(this.#propagateDir(machine), { recursive: true, force: true });
    await fs.rm(this.#dir(machine.name), { recursive: true, force: true });
  }

  /** Where nspawn keeps what it propagates into the machine, named with nspawn's name for it. */
  #propagateDir(machine: Machine): string {
    return path.join(NSPAWN_RUN, 'propagate', cmd.nspawnName(this.bridge, machine));
  }

  /** The supervisor's PID, only if that process is still this machine's supervisor. */
  #supervisorPid(machine: Machine): number | undefined {
    const file = path.join(this.#dir(machine.name), 'supervisor.pid');
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').trim());
    return cmdline(pid).includes(`foobar-machine-${machine.name}`) ? pid : undefined;
  }

  /** Supervisors and nspawns started for this state directory (or one machine of it). */
  #ourProcesses(machine?: Machine): number[] {
    const marker = machine === undefined ? `${this.stateDir}/` : `${this.#dir(machine.name)}/root`;
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number)
      .filter(
        (pid) =>
          pid !== process.pid && isAlive(pid) && cmdline(pid).some((arg) => arg.includes(marker)),
      );
  }

  /** Overlays still mounted under the state directory. */
  #strayRoots(): string[] {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[1] ?? '')
      .filter((mountPoint) => mountPoint.startsWith(`${this.stateDir}/`));
  }

  #dir(name: string): string {
    return path.join(this.stateDir, name);
  }

  #cgroupDir(hierarchy: string, name: string): string {
    return path.join(CGROUP_ROOT, hierarchy, this.#cgroupGroup, name);
  }

  /** When the guest's PID 1 started (clock ticks since the host booted): changes with each boot. */
  async #initStart(machine: Machine): Promise<string> {
    const out = await this.#driver.exec(
      null,
      ssh(this.access, machine.address, ['cat', '/proc/1/stat'], 5_000),
    );
    return out.stdout.split(' ')[21] ?? '';
  }
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'machines need root (mounts, cgroups, a bridge, systemd-nspawn): run with sudo',
    );
  }
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((arg) => arg !== '');
  } catch {
    return [];
  }
}

/** Alive and not a zombie waiting for PID 1 to reap it. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function exits(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

function procsUnder(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const here = readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map(Number);
  const below = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => procsUnder(path.join(dir, entry.name)));
  return [...here, ...below];
}

function kbField(file: string, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'));
    return Number(match?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** cgroupfs directories hold only control files: they go with rmdir, deepest first. */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name));
  }
  try {
    // Synchronous on purpose: the order matters and each call is instant.
    rmdirSync(dir);
  } catch (error) {
    throw new Error(`cannot remove cgroup ${dir} (a process of the machine still runs in it?)`, {
      cause: error,
    });
  }
}

/** The state directories of other runs of machines on this machine (any Machines' stateDir). */
function otherRuns(stateDir: string): string[] {
  const parent = path.dirname(stateDir);
  const family = path.basename(MACHINES_STATE);
  if (!existsSync(parent)) return [];
  return readdirSync(parent)
    .filter((entry) => entry === family || entry.startsWith(`${family}-`))
    .map((entry) => path.join(parent, entry))
    .filter((dir) => dir !== stateDir);
}

async function rmdirIfEmpty(dir: string): Promise<void> {
  await fs.rmdir(dir).catch(() => undefined);
}
