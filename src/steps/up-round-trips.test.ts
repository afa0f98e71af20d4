/**
 * A second `foobar up` on healthy machines says so quickly: over SSH each driver call is a round
 * trip (a local ssh process, a session on the host), so their number is what a no-op costs. The
 * machines example runs against simulated Debian machines (each host its own files, systemd
 * units that run once started), twice; the second run must change nothing and stay under a
 * count of calls per phase. A count, not a time: the machine running the tests is shared.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type {
  Command,
  Driver,
  ExecOptions,
  ExecResult,
  PipeEnd,
  PipeResult,
  SpawnOptions,
  Survey,
  Surveyed,
  Target,
} from '../drivers/driver.ts';
import { RecordingDriver, type Responder } from '../drivers/recording.ts';
import { backupHost, backupPaths } from '../model/backup.ts';
import { simulatedBackups } from './backup.ts';
import { createContext } from './context.ts';
import { simulatedDatabases } from './db/simulate.ts';
import { runPlan, type PlanReporter } from './plan.ts';
import { upPlan } from './up.ts';
import { allOf, simulatedKeepalived } from './vrrp-simulate.ts';
import { exampleModel } from '../model/examples-testing.ts';

const model = exampleModel('machines');

const ok = (stdout: string): ExecResult => ({ stdout, stderr: '', exitCode: 0 });

/** systemd, dpkg and OpenSSH's tools as a healthy Debian 12 machine answers them. */
function simulatedMachines(driver: () => RecordingDriver): Responder {
  const started = new Map<string, number>();
  let nextPid = 50_000;
  const children = (pid: number): void => {
    driver().files.set(`/proc/${pid}/task/${pid}/children`, Buffer.from(`${nextPid++}`));
  };
  /** Units enabled without being started (the firewall's boot unit). */
  const enabledOnly = new Set<string>();
  const enabled = (target: Target, unit: string): string =>
    started.has(`${target} ${unit}`) || enabledOnly.has(`${target} ${unit}`)
      ? 'enabled'
      : 'disabled';
  const active = (target: Target, unit: string): string =>
    started.has(`${target} ${unit}`) ? 'active' : 'inactive';
  return (target, command) => {
    // systemctl's unit-file verbs run as `env SYSTEMCTL_SKIP_SYSV=1 systemctl ...`.
    const argv = command[0] === 'env' ? command.slice(2) : command;
    const [program, verb] = argv;
    const unit = argv.at(-1) ?? '';
    if (program === 'systemctl' && verb === 'start') {
      const pid = nextPid++;
      started.set(`${target} ${unit}`, pid);
      children(pid);
      return ok('');
    }
    if (program === 'systemctl' && verb === 'enable') {
      enabledOnly.add(`${target} ${unit}`);
      return ok('');
    }
    if (program === 'systemctl' && verb === 'reload') {
      children(started.get(`${target} ${unit}`) ?? 0);
      return ok('');
    }
    const pid = started.get(`${target} ${unit}`);
    const shown =
      pid === undefined
        ? 'MainPID=0\nActiveState=inactive\nSubState=dead\n'
        : `MainPID=${pid}\nActiveState=active\nSubState=running\n`;
    if (program === 'systemctl' && verb === 'show') return ok(shown);
    if (program === 'systemctl' && verb === 'is-enabled') return ok(`${enabled(target, unit)}\n`);
    const script = program === 'sh' ? (argv[2] ?? '') : '';
    if (script.startsWith('systemctl is-enabled "$1"'))
      return ok(`${enabled(target, unit)}\n${shown}`);
    if (script.startsWith('systemctl is-enabled "$@"')) {
      const units = argv.slice(4);
      const lines = [
        ...units.map((u) => enabled(target, u)),
        '--',
        ...units.map((u) => active(target, u)),
      ];
      return ok(`${lines.join('\n')}\n`);
    }
    if (program === 'dpkg-query')
      return ok(
        argv
          .slice(3)
          .map((p) => `${p} installed\n`)
          .join(''),
      );
    if (program === 'ls' && verb === '-d') return ok(`${argv.slice(2).join('\n')}\n`);
    if (program === 'ssh-keygen' && argv.includes('-y')) return ok('ssh-ed25519 AAAAsimulated\n');
    if (program === 'ssh-keygen') {
      const file = argv[argv.indexOf('-f') + 1] ?? '';
      driver().files.set(file, Buffer.from('-----BEGIN OPENSSH PRIVATE KEY-----\nsimulated\n'));
      return ok('');
    }
    return undefined;
  };
}

/**
 * The recording driver with a file system per machine (the recording driver has one for all), and
 * every call to a machine counted under the phase that made it.
 */
class CountingMachines implements Driver {
  readonly inner: RecordingDriver;
  readonly counts = new Map<string, number>();
  readonly changes: string[] = [];
  phase = '';
  readonly #files = new Map<string, string>();
  readonly #written = new Set<string>();

  constructor() {
    const responder = simulatedMachines(() => this.inner);
    this.inner = new RecordingDriver(
      allOf(responder, simulatedDatabases(model), simulatedKeepalived(model), simulatedBackups()),
      { simulate: true },
    );
    for (const host of model.hosts)
      this.#files.set(`${host.name}\0/etc/os-release`, 'ID=debian\nVERSION_ID="12"\n');
    const pins = model.hosts.map((host) => `${host.name} ssh-ed25519 AAAAhost\n`).join('');
    this.inner.files.set(path.join(model.lab.stateDir, 'ssh', 'known_hosts'), Buffer.from(pins));
  }

  #count(target: Target, what: string, change = false): void {
    if (target === null) return;
    this.counts.set(this.phase, (this.counts.get(this.phase) ?? 0) + 1);
    if (change) this.changes.push(`${this.phase}: [${target}] ${what}`);
  }

  #key(target: Target, file: string): string {
    return `${target ?? ''}\0${file}`;
  }

  #store(target: Target, file: string, content: string | undefined): void {
    if (target === null) return;
    this.#written.add(file);
    if (content === undefined) this.#files.delete(this.#key(target, file));
    else this.#files.set(this.#key(target, file), content);
  }

  #read(target: Target, file: string): Promise<string | undefined> {
    if (target === null) return this.inner.readFile(target, file);
    const content = this.#files.get(this.#key(target, file));
    if (content !== undefined || this.#written.has(file)) return Promise.resolve(content);
    return this.inner.readFile(target, file);
  }

  exec(target: Target, command: Command, options?: ExecOptions): Promise<ExecResult> {
    // The simulated database keeps no accounts: its statements are not counted as changes.
    const change = command.readOnly !== true && command.argv[0] !== 'mariadb';
    this.#count(target, command.argv.join(' '), change);
    return this.inner.exec(target, command, options);
  }

  attach(target: Target, command: Command): Promise<number> {
    this.#count(target, command.argv.join(' '), true);
    return this.inner.attach(target, command);
  }

  spawn(target: Target, command: Command, options: SpawnOptions): Promise<number> {
    this.#count(target, `spawn ${command.argv.join(' ')}`, true);
    return this.inner.spawn(target, command, options);
  }

  writeFile(
    target: Target,
    file: string,
    content: string | Uint8Array,
    mode?: number,
  ): Promise<void> {
    this.#count(target, `write ${file}`, true);
    this.#store(target, file, Buffer.from(content).toString('utf8'));
    return this.inner.writeFile(target, file, content, mode);
  }

  async appendFile(target: Target, file: string, text: string): Promise<void> {
    this.#count(target, `append ${file}`, true);
    this.#store(target, file, `${(await this.#read(target, file)) ?? ''}${text}`);
    return this.inner.appendFile(target, file, text);
  }

  readFile(target: Target, file: string): Promise<string | undefined> {
    this.#count(target, `read ${file}`);
    return this.#read(target, file);
  }

  readFiles(target: Target, files: readonly string[]): Promise<(string | undefined)[]> {
    this.#count(target, `read ${files.join(' ')}`);
    return Promise.all(files.map((file) => this.#read(target, file)));
  }

  async survey(target: string, survey: Survey): Promise<Surveyed> {
    this.#count(target, `survey ${survey.dirs.join(' ')}; ${survey.command.argv.join(' ')}`);
    await this.inner.mkdirs(target, survey.dirs);
    const contents = await Promise.all(survey.files.map((file) => this.#read(target, file)));
    return { contents, result: await this.inner.exec(target, survey.command) };
  }

  mkdir(target: Target, dir: string): Promise<void> {
    this.#count(target, `mkdir ${dir}`);
    return this.inner.mkdir(target, dir);
  }

  mkdirs(target: Target, dirs: readonly string[]): Promise<void> {
    this.#count(target, `mkdir ${dirs.join(' ')}`);
    return this.inner.mkdirs(target, dirs);
  }

  remove(target: Target, file: string): Promise<void> {
    this.#count(target, `remove ${file}`, true);
    const gone = this.#key(target, file);
    for (const key of [...this.#files.keys()])
      if (key === gone || key.startsWith(`${gone}/`)) this.#files.delete(key);
    return this.inner.remove(target, file);
  }

  copyFile(target: Target, from: string, to: string): Promise<void> {
    this.#count(target, `copy ${to}`, true);
    return this.inner.copyFile(target, from, to);
  }

  copyDir(target: Target, from: string, to: string): Promise<void> {
    this.#count(target, `copy ${to}/`, true);
    return this.inner.copyDir(target, from, to);
  }

  pipe(from: PipeEnd, to: PipeEnd): Promise<PipeResult> {
    this.#count(from.target, 'pipe', true);
    this.#count(to.target, 'pipe', true);
    return this.inner.pipe(from, to);
  }

  symlink(target: Target, to: string, link: string): Promise<void> {
    this.#count(target, `symlink ${link}`, true);
    this.#store(target, link, `->${to}`);
    return this.inner.symlink(target, to, link);
  }

  async readlink(target: Target, link: string): Promise<string | undefined> {
    this.#count(target, `readlink ${link}`);
    const value = await this.#read(target, link);
    return value?.startsWith('->') === true ? value.slice(2) : undefined;
  }
}

/**
 * Calls to the machines of a second, no-op `up`, per phase: 415 before reads, directories and
 * systemd's questions were batched (one round trip per daemon for its files, one for its unit),
 * 232 after; 248 with the backup role on the monitor, 271 with the backups' and exporters' later
 * daemons; 189 since a daemon in good order is one survey (its directories, files and unit at
 * once). The bounds leave a little room; a phase that asks per file or per unit again fails.
 */
const NO_OP_BOUNDS: Readonly<Record<string, number>> = {
  Preflight: 7,
  Machines: 45,
  Firewalls: 20,
  'Certificates behind the edge': 10,
  // The databases, with NSD, etcd and Prometheus' early start beside them.
  'Databases, DNS, etcd, Prometheus': 32,
  'Web servers': 22,
  'Load balancers': 6,
  // What a promotion could not do on a host it could not reach (database.json's `unreached`).
  'Failover leftovers': 2,
  // The managers' SSH access and the managers; the backup agent's SSH access (authorized_keys on
  // the database servers and the monitor, its files), its tool on the database servers, the
  // agent, and its status; the exporters (and the firewall counts' writer beside each node
  // exporter) and the monitor's daemons.
  'Failover managers, backups, monitoring': 60,
  // The load balancers' view, the virtual addresses, Prometheus' targets and rules.
  Health: 8,
};
const NO_OP_TOTAL = 195;

describe('a second foobar up on healthy machines', async () => {
  const builds = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-up-round-trips-'));
  after(() => fs.rm(builds, { recursive: true, force: true }));
  const driver = new CountingMachines();
  const ctx = { ...createContext(model, driver), scratchBuilds: path.join(builds, 'daemons') };
  const reporter: PlanReporter = {
    phaseStarted: (phase) => {
      driver.phase = phase.title;
    },
    taskChanged: () => undefined,
    phaseFinished: () => undefined,
  };
  await runPlan(upPlan(ctx, { buildsDir: builds, offline: true }), reporter);
  const first = [...driver.counts.values()].reduce((a, b) => a + b, 0);
  // The backup agent records the full backup `up` asked it for (a simulated machine runs no agent).
  const backup = backupHost(model);
  if (backup !== undefined)
    await driver.writeFile(
      backup.name,
      backupPaths(model, backup.name).status,
      `${JSON.stringify({ lastFull: { id: 'simulated' } })}\n`,
    );
  driver.counts.clear();
  driver.changes.length = 0;
  await runPlan(upPlan(ctx, { buildsDir: builds, offline: true }), reporter);
  const second = [...driver.counts.values()].reduce((a, b) => a + b, 0);

  it('changes nothing on them', () => {
    assert.deepEqual(driver.changes, []);
  });

  it('asks each machine a bounded number of questions, per phase', (t) => {
    t.diagnostic(`calls to the machines: ${first} from scratch, ${second} for the second up`);
    t.diagnostic([...driver.counts].map(([phase, count]) => `${phase}: ${count}`).join(', '));
    for (const [phase, count] of driver.counts) {
      const bound = NO_OP_BOUNDS[phase];
      assert.ok(bound !== undefined, `a phase with no bound: ${phase} (${count} calls)`);
      assert.ok(count <= bound, `${phase}: ${count} calls, at most ${bound}`);
    }
    assert.ok(second <= NO_OP_TOTAL, `${second} calls, at most ${NO_OP_TOTAL}`);
  });
});
