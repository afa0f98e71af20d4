/**
 * The machines' driver: every host is a Debian machine reached with the system's OpenSSH client.
 * One master connection per host (ControlMaster), opened on first use and shared by every command
 * to it; hosts are independent, so work on several runs in parallel. Host keys are pinned in the
 * state directory on first contact and a changed one is refused. `null` (this machine) runs
 * locally, as in the lab.
 */
import { spawn as spawnChild } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Model, SshDestination } from '../model/model.ts';
import {
  CommandFailedError,
  type Command,
  type Driver,
  type FileFollower,
  type ExecOptions,
  type ExecResult,
  type PipeEnd,
  type PipeOptions,
  type PipeResult,
  type SpawnOptions,
  type Survey,
  type Surveyed,
  type Target,
} from './driver.ts';
import { SessionFollower } from './follow.ts';
import { NetnsDriver } from './netns.ts';
import { pipeOutcome, pipeSide, runLocalPipe, type LocalSide, type SideOutcome } from './pipe.ts';
import { attachProcess, DEFAULT_TIMEOUT_MS, runProcess } from './process.ts';
import { quoteArg, quoteArgv } from './quote.ts';
import {
  ABSENT,
  APPEND_FILE,
  FOLLOW_FILE,
  PIPE_SIDE,
  PIPE_SIDE_GROUP,
  READ_FILE,
  READ_FILES,
  READ_LINK,
  remoteCommand,
  shArgv,
  sshOptions,
  SPAWN,
  sshArgv,
  SURVEY,
  SYMLINK,
  timedArgv,
  TIMED_OUT_EXITS,
  UNPACK_DIR,
  WRITE_FILE,
  type SshSettings,
} from './ssh-command.ts';
import { classifySshFailure, HostKeyChangedError, SshConnectError } from './ssh-errors.ts';
import { Executor } from './ssh-executor.ts';

export interface SshDriverOptions {
  /** Each host's SSH destination, by host name. */
  readonly destinations: Readonly<Record<string, SshDestination>>;
  /** Host keys are pinned in `<stateDir>/ssh/known_hosts`. */
  readonly stateDir: string;
  /** An ssh_config read instead of ~/.ssh/config (ssh -F). */
  readonly configFile?: string;
  /**
   * Commands at once on one host. sshd allows 10 sessions per connection (MaxSessions); two are
   * left for `attach` and the master's own checks.
   */
  readonly sessionsPerHost?: number;
  /** Each command in an SSH session of its own, as before the executor (the bench compares). */
  readonly sessionPerCommand?: boolean;
}

const DEFAULT_SESSIONS_PER_HOST = 8;
/** Waiting for the master to answer after a remote timeout has ended the command. */
const LOCAL_TIMEOUT_MARGIN_MS = 20_000;
const CONNECT_TIMEOUT_MS = 30_000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The drivers sshDriverFor made: closeSshDrivers ends their connections. */
const opened = new Set<SshDriver>();

/** The driver for a model on machines; the lab has none (NetnsDriver). */
export function sshDriverFor(model: Model): SshDriver {
  if (model.platform.kind !== 'machines') {
    throw new Error(`the ${model.platform.kind} platform does not use SSH`);
  }
  const driver = new SshDriver({
    destinations: model.platform.ssh,
    stateDir: model.lab.stateDir,
    ...(model.platform.sshConfig === undefined ? {} : { configFile: model.platform.sshConfig }),
  });
  opened.add(driver);
  return driver;
}

/**
 * Ends the master connections of every driver sshDriverFor made and removes their control
 * directories: the CLI calls it before it exits. Without it each run left an empty
 * /tmp/foobar-ssh-* directory and its connections open for ControlPersist (120 s).
 */
export async function closeSshDrivers(): Promise<void> {
  const drivers = [...opened];
  opened.clear();
  await Promise.all(drivers.map((driver) => driver.close()));
}

export class SshDriver implements Driver {
  readonly knownHostsFile: string;
  readonly #options: SshDriverOptions;
  readonly #local = new NetnsDriver((host) => {
    throw new Error(`${host} is a machine, not a lab namespace`);
  });
  #controlDir: Promise<string> | undefined;
  readonly #masters = new Map<string, Promise<void>>();
  readonly #slots = new Map<string, Semaphore>();
  /** Each host's session that runs commands (ssh-executor.ts); none for a host without Perl. */
  readonly #executors = new Map<string, Executor>();
  readonly #withoutExecutor = new Set<string>();
  /** FOOBAR_SSH_TRACE: a file each command is appended to, with its host, time and exit. */
  readonly #trace = process.env.FOOBAR_SSH_TRACE;

  constructor(options: SshDriverOptions) {
    this.#options = options;
    this.knownHostsFile = path.join(options.stateDir, 'ssh', 'known_hosts');
  }

  async exec(target: Target, command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    if (target === null) return this.#local.exec(target, command, options);
    return this.#run(target, command.argv, quoteArgv(command.argv), {
      ...(command.input === undefined ? {} : { input: command.input }),
      timeoutMs: command.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      check: options.check !== false,
    });
  }

  async attach(target: Target, command: Command): Promise<number> {
    if (target === null) return this.#local.attach(target, command);
    const argv = await this.#ssh(target, [process.stdin.isTTY ? '-t' : '-T']);
    return attachProcess([...argv, remoteCommand(command.argv)], {
      endsWithInput: command.endsWithInput === true,
    });
  }

  /**
   * A transient systemd unit where systemd runs the host, else a process in its own session; both
   * outlive the connection. The environment goes to `<logFile>.env` (0600) through standard input,
   * never onto a command line.
   */
  async spawn(target: Target, command: Command, options: SpawnOptions): Promise<number> {
    if (target === null) return this.#local.spawn(target, command, options);
    let envFile = '';
    if (options.env !== undefined) {
      envFile = `${options.logFile}.env`;
      await this.writeFile(target, envFile, environmentFile(options.env), 0o600);
    }
    const unit = `foobar-${target}-${randomUUID().slice(0, 8)}`;
    const argv = shArgv(SPAWN, options.logFile, options.cwd ?? '/', envFile, unit, ...command.argv);
    const result = await this.#run(target, argv, `start ${quoteArgv(command.argv)}`, {
      timeoutMs: command.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      check: true,
    });
    const pid = Number(result.stdout.trim());
    if (!Number.isInteger(pid) || pid <= 0) {
      throw new Error(
        `${target}: started ${quoteArgv(command.argv)} but got no PID (${JSON.stringify(result.stdout.trim())}): see ${options.logFile} there`,
      );
    }
    return pid;
  }

  async writeFile(
    target: Target,
    file: string,
    content: string | Uint8Array,
    mode = 0o644,
  ): Promise<void> {
    if (target === null) return this.#local.writeFile(target, file, content, mode);
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    await this.#write(target, file, mode, bytes.byteLength, bytes);
  }

  async appendFile(target: Target, file: string, text: string, mode = 0o644): Promise<void> {
    if (target === null) return this.#local.appendFile(target, file, text, mode);
    const argv = shArgv(APPEND_FILE, file, octal(mode));
    await this.#run(target, argv, `append to ${file}`, { input: text, check: true });
  }

  async readFile(target: Target, file: string): Promise<string | undefined> {
    if (target === null) return this.#local.readFile(target, file);
    const argv = shArgv(READ_FILE, file);
    const result = await this.#run(target, argv, `read ${file}`, { check: false });
    if (result.exitCode === ABSENT) return undefined;
    if (result.exitCode !== 0) throw new CommandFailedError(target, argv, result, `read ${file}`);
    return result.stdout;
  }

  /** One round trip for all of them (READ_FILES). */
  async readFiles(target: Target, files: readonly string[]): Promise<(string | undefined)[]> {
    if (target === null) return this.#local.readFiles(target, files);
    if (files.length === 0) return [];
    if (files.length === 1) return [await this.readFile(target, files[0] ?? '')];
    const argv = shArgv(READ_FILES, ...files);
    const display = `read ${files.join(' ')}`;
    const result = await this.#run(target, argv, display, { check: true });
    return readLines(result.stdout.split('\n'), files.length, () => {
      throw new CommandFailedError(target, argv, { ...result, exitCode: 1 }, display);
    });
  }

  /** One round trip (SURVEY): the directories, the files, then the command. */
  async survey(target: string, survey: Survey): Promise<Surveyed> {
    const { dirs, files, command } = survey;
    const argv = [
      'bash',
      '-c',
      SURVEY,
      'bash',
      String(dirs.length),
      ...dirs,
      String(files.length),
      ...files,
      ...command.argv,
    ];
    const display = `survey ${dirs.join(' ')}; read ${files.join(' ')}; ${quoteArgv(command.argv)}`;
    const result = await this.#run(target, argv, display, {
      timeoutMs: command.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      check: true,
    });
    // The files' lines, then the command's output as it wrote it.
    const end = files.reduce((at) => result.stdout.indexOf('\n', at) + 1, 0);
    const contents = readLines(result.stdout.slice(0, end).split('\n'), files.length, () => {
      throw new CommandFailedError(target, argv, { ...result, exitCode: 1 }, display);
    });
    return { contents, result: { ...result, stdout: result.stdout.slice(end) } };
  }

  async mkdir(target: Target, dir: string, mode = 0o755): Promise<void> {
    await this.mkdirs(target, [dir], mode);
  }

  /** `mkdir -p -m MODE` of them all: one round trip. */
  async mkdirs(target: Target, dirs: readonly string[], mode = 0o755): Promise<void> {
    if (target === null) return this.#local.mkdirs(target, dirs, mode);
    if (dirs.length === 0) return;
    const argv = ['mkdir', '-p', '-m', octal(mode), '--', ...dirs];
    await this.#run(target, argv, quoteArgv(argv), { check: true });
  }

  async remove(target: Target, file: string): Promise<void> {
    if (target === null) return this.#local.remove(target, file);
    const argv = ['rm', '-rf', '--', file];
    await this.#run(target, argv, quoteArgv(argv), { check: true });
  }

  /** Streams the file (mode kept) through the connection: no copy on this machine. */
  async copyFile(target: Target, from: string, to: string): Promise<void> {
    if (target === null) return this.#local.copyFile(target, from, to);
    const stat = await fs.stat(from);
    await this.#write(target, to, stat.mode & 0o7777, stat.size, createReadStream(from));
  }

  /** `tar` here piped into `tar` there, swapped in beside the old tree: no archive on either side. */
  async copyDir(target: Target, from: string, to: string): Promise<void> {
    if (target === null) return this.#local.copyDir(target, from, to);
    await fs.access(from);
    const tar = spawnChild('tar', ['-C', from, '-cf', '-', '.'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tarErrors: Buffer[] = [];
    tar.stderr.on('data', (chunk: Buffer) => tarErrors.push(chunk));
    const tarExit = new Promise<number>((resolve, reject) => {
      tar.once('error', reject);
      tar.once('close', (code) => {
        resolve(code ?? 128);
      });
    });
    const argv = shArgv(UNPACK_DIR, to);
    try {
      await this.#run(target, argv, `copy ${from} to ${to}`, { input: tar.stdout, check: true });
    } catch (error) {
      // Nothing reads its output any more: it would wait on a full pipe for ever.
      tar.kill('SIGKILL');
      throw error;
    }
    const code = await tarExit;
    if (code !== 0) {
      throw new Error(
        `tar of ${from} on this machine failed (exit ${code}): ${Buffer.concat(tarErrors).toString('utf8').trim()}`,
      );
    }
  }

  /**
   * One SSH session to each host, joined here: the source's output is relayed to the receiver
   * through this process's memory and never lands in a file (docs/decisions.md says why not host
   * to host). Each side also runs under its own timeout on its host, so a side whose session is
   * cut ends there too.
   */
  async pipe(from: PipeEnd, to: PipeEnd, options?: PipeOptions): Promise<PipeResult> {
    const reach = async (end: PipeEnd): Promise<LocalSide> => {
      const side = pipeSide(end);
      const host = end.target;
      if (host === null) return side;
      const argv = shArgv(PIPE_SIDE, ...timedArgv(side.argv, side.timeoutMs));
      return {
        argv: [...(await this.#ssh(host)), quoteArgv(argv)],
        timeoutMs: side.timeoutMs + LOCAL_TIMEOUT_MARGIN_MS,
        stopThere: async (stderr) => {
          const group = processGroupOf(stderr);
          if (group === undefined) return;
          const kill = ['kill', '-KILL', '--', `-${group}`];
          await this.#run(host, kill, quoteArgv(kill), {
            check: false,
            timeoutMs: 10_000,
            reserved: true,
          });
        },
      };
    };
    const [source, sink] = await Promise.all([reach(from), reach(to)]);
    const slots = [from.target, to.target].flatMap((host) =>
      host === null ? [] : [this.#slotsOf(host)],
    );
    for (const slot of slots) await slot.acquire();
    const started = performance.now();
    let outcome;
    try {
      outcome = await runLocalPipe(source, sink, options);
    } finally {
      for (const slot of slots) slot.release();
    }
    const there = (end: PipeEnd, side: SideOutcome): SideOutcome => {
      if (end.target === null) return side;
      const stderr = side.result.stderr.replace(PIPE_SIDE_LINE, '');
      const result = timedOutThere({ ...side.result, stderr }, started, pipeSide(end).timeoutMs);
      return { ...side, result };
    };
    return pipeOutcome(from, to, {
      bytes: outcome.bytes,
      from: there(from, outcome.from),
      to: there(to, outcome.to),
    });
  }

  async symlink(target: Target, to: string, link: string): Promise<void> {
    if (target === null) return this.#local.symlink(target, to, link);
    await this.#run(target, shArgv(SYMLINK, to, link), `link ${link} to ${to}`, { check: true });
  }

  async readlink(target: Target, link: string): Promise<string | undefined> {
    if (target === null) return this.#local.readlink(target, link);
    const argv = shArgv(READ_LINK, link);
    const result = await this.#run(target, argv, `readlink ${link}`, { check: false });
    if (result.exitCode === ABSENT) return undefined;
    if (result.exitCode !== 0)
      throw new CommandFailedError(target, argv, result, `readlink ${link}`);
    return result.stdout.endsWith('\n') ? result.stdout.slice(0, -1) : result.stdout;
  }

  async reachAnew(target: string, timeoutMs: number): Promise<string | undefined> {
    const settings = this.#settings(await this.#control());
    const to = this.#destination(target);
    const seconds = Math.max(1, Math.floor(timeoutMs / 1000));
    const argv = [
      'ssh',
      ...sshOptions(settings, target, to, { connectTimeoutSeconds: seconds }),
      '--',
      to.host,
      'true',
    ];
    const result = await runProcess(argv, { timeoutMs: timeoutMs + 2000 });
    if (result.exitCode === 0) return undefined;
    const last = result.stderr.trim().split('\n').at(-1) ?? '';
    return last === '' ? `ssh exit ${result.exitCode}` : last;
  }

  /** One session that streams the file's changes (FOLLOW_FILE), holding one of the host's sessions. */
  follow(target: string, file: string, everyMs: number): FileFollower {
    const script = ['bash', '-c', FOLLOW_FILE, 'bash', file, (everyMs / 1000).toFixed(3)];
    const slots = this.#slotsOf(target);
    return new SessionFollower(
      {
        argv: async () => [...(await this.#ssh(target, ['-T'])), quoteArgv(script)],
        acquire: () => slots.acquire(),
        release: () => {
          slots.release();
        },
      },
      everyMs,
    );
  }

  /** The PID of the host's master connection on this machine, when one is open. */
  async masterPid(host: string): Promise<number | undefined> {
    const dir = this.#controlDir;
    if (dir === undefined) return undefined;
    const argv = sshArgv(this.#settings(await dir), host, this.#destination(host), ['-O', 'check']);
    const result = await runProcess(argv, { timeoutMs: 10_000 });
    const pid = /pid=(\d+)/.exec(result.stderr)?.[1];
    return pid === undefined ? undefined : Number(pid);
  }

  /** Ends every master connection and removes their sockets. The driver can be used again. */
  async close(): Promise<void> {
    const dir = this.#controlDir;
    const hosts = [...this.#masters.keys()];
    const executors = [...this.#executors.values()];
    this.#executors.clear();
    await Promise.all(executors.map((executor) => executor.close()));
    this.#masters.clear();
    this.#controlDir = undefined;
    if (dir === undefined) return;
    const settings = this.#settings(await dir);
    await Promise.all(
      hosts.map((host) =>
        runProcess(sshArgv(settings, host, this.#destination(host), ['-O', 'exit']), {
          timeoutMs: 10_000,
        }),
      ),
    );
    await fs.rm(await dir, { recursive: true, force: true });
  }

  /** The `ssh ... -- DESTINATION` prefix for a host, its master connection open. */
  async #ssh(host: string, extra: readonly string[] = []): Promise<string[]> {
    const destination = this.#destination(host);
    const settings = this.#settings(await this.#control());
    await this.#connect(host, settings, destination);
    return sshArgv(settings, host, destination, extra);
  }

  #destination(host: string): SshDestination {
    const destination = this.#options.destinations[host];
    if (destination === undefined) {
      const known = Object.keys(this.#options.destinations).join(', ');
      throw new Error(`${host} is not one of the machines (those are: ${known || 'none'})`);
    }
    return destination;
  }

  #settings(controlDir: string): SshSettings {
    return {
      knownHostsFile: this.knownHostsFile,
      controlDir,
      ...(this.#options.configFile === undefined ? {} : { configFile: this.#options.configFile }),
    };
  }

  /** A private directory for the control sockets: short, so a socket path fits its 107 bytes. */
  #control(): Promise<string> {
    this.#controlDir ??= (async () => {
      await fs.mkdir(path.dirname(this.knownHostsFile), { recursive: true, mode: 0o700 });
      return fs.mkdtemp(path.join(os.tmpdir(), 'foobar-ssh-'));
    })();
    return this.#controlDir;
  }

  /**
   * Opens the host's master connection once (`-N -f`: it backgrounds itself once logged in), which
   * is where a changed host key or an unreachable machine shows. A failure is not remembered: the
   * next command tries again.
   */
  #connect(host: string, settings: SshSettings, to: SshDestination): Promise<void> {
    let master = this.#masters.get(host);
    if (master === undefined) {
      const argv = sshArgv(settings, host, to, ['-N', '-f']);
      master = runProcess(argv, { timeoutMs: CONNECT_TIMEOUT_MS }).then((result) => {
        if (result.exitCode === 0) return;
        if (classifySshFailure(255, result.stderr) === 'host-key-changed')
          throw new HostKeyChangedError(host, to, settings.knownHostsFile, result.stderr);
        throw new SshConnectError(host, to, result.stderr);
      });
      master.catch(() => this.#masters.delete(host));
      this.#masters.set(host, master);
    }
    return master;
  }

  async #write(
    target: string,
    file: string,
    mode: number,
    size: number,
    input: Uint8Array | Readable,
  ): Promise<void> {
    const argv = shArgv(WRITE_FILE, file, octal(mode), String(size));
    await this.#run(target, argv, `write ${file}`, { input, check: true });
  }

  /**
   * Runs argv on the host: quoted once for its shell, ended there after the timeout, at most
   * `sessionsPerHost` at once (`reserved`: in one of the sessions kept aside, for the kill that
   * stops a pipe's side, which holds its slot until then). `display` names the command in errors.
   */
  async #run(
    host: string,
    argv: readonly string[],
    display: string,
    options: {
      input?: string | Uint8Array | Readable;
      timeoutMs?: number;
      check: boolean;
      reserved?: boolean;
    },
  ): Promise<ExecResult> {
    const ssh = await this.#ssh(host);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { input } = options;
    const slots = options.reserved === true ? undefined : this.#slotsOf(host);
    await slots?.acquire();
    const started = performance.now();
    let result: ExecResult | undefined;
    try {
      // A stream (a file copied) keeps a session of its own: the executor takes input whole.
      if (!(input instanceof Readable)) {
        const executor = await this.#executorOf(host);
        const answered = await executor?.run(argv, input, timeoutMs, LOCAL_TIMEOUT_MARGIN_MS);
        if (executor?.fallback === true) this.#withoutExecutor.add(host);
        else result = answered;
      }
      result ??= await runProcess([...ssh, remoteCommand(argv, timeoutMs)], {
        ...(input === undefined ? {} : { input }),
        timeoutMs: timeoutMs + LOCAL_TIMEOUT_MARGIN_MS,
      });
    } finally {
      slots?.release();
    }
    if (this.#trace !== undefined) {
      const took = (performance.now() - started).toFixed(0);
      const what = display.slice(0, 300).replaceAll('\n', ' ');
      appendFileSync(
        this.#trace,
        `${new Date().toISOString()} ${host} ${took} ms exit ${result.exitCode} ${what}\n`,
      );
    }
    const failure = classifySshFailure(result.exitCode, result.stderr);
    const to = this.#destination(host);
    if (failure === 'host-key-changed')
      throw new HostKeyChangedError(host, to, this.knownHostsFile, result.stderr);
    if (failure === 'cannot-connect') throw new SshConnectError(host, to, result.stderr);
    result = timedOutThere(result, started, timeoutMs);
    if (options.check && result.exitCode !== 0) {
      throw new CommandFailedError(host, argv, result, display);
    }
    return result;
  }

  /** The host's executor session, started on first use and again after its connection ended. */
  async #executorOf(host: string): Promise<Executor | undefined> {
    if (this.#options.sessionPerCommand === true || this.#withoutExecutor.has(host))
      return undefined;
    const current = this.#executors.get(host);
    if (current?.open === true) return current;
    const argv = await this.#ssh(host, ['-T']);
    // Another command may have started it while this one waited for the connection.
    const started = this.#executors.get(host);
    if (started?.open === true) return started;
    const executor = new Executor(argv);
    this.#executors.set(host, executor);
    return executor;
  }

  #slotsOf(host: string): Semaphore {
    let slots = this.#slots.get(host);
    if (slots === undefined) {
      slots = new Semaphore(this.#options.sessionsPerHost ?? DEFAULT_SESSIONS_PER_HOST);
      this.#slots.set(host, slots);
    }
    return slots;
  }
}

/** READ_FILES' lines (`+base64` or `-`) for `count` files; `malformed` when one is neither. */
function readLines(
  lines: readonly string[],
  count: number,
  malformed: () => never,
): (string | undefined)[] {
  return Array.from({ length: count }, (_, i) => {
    const line = lines[i];
    if (line === '-') return undefined;
    if (line?.startsWith('+') !== true) return malformed();
    return Buffer.from(line.slice(1), 'base64').toString('utf8');
  });
}

/** KEY='value' lines: read by systemd (EnvironmentFile) and by sh alike. */
export function environmentFile(env: Readonly<Record<string, string>>): string {
  return Object.entries(env)
    .map(([name, value]) => {
      if (!ENV_NAME.test(name)) throw new Error(`not an environment variable name: ${name}`);
      return `${name}=${quoteArg(value)}\n`;
    })
    .join('');
}

/** A command that `timeout` ended on its host reads as timed out (exit -1), as a local one does. */
function timedOutThere(result: ExecResult, started: number, timeoutMs: number): ExecResult {
  if (!TIMED_OUT_EXITS.includes(result.exitCode) || performance.now() - started < timeoutMs)
    return result;
  return { ...result, exitCode: -1, stderr: `${result.stderr}\n(timed out)` };
}

const PIPE_SIDE_LINE = new RegExp(`^${PIPE_SIDE_GROUP} (\\d+)\\n`);

/** The process group a pipe side announced on its first line of stderr (PIPE_SIDE). */
function processGroupOf(stderr: string): number | undefined {
  const group = PIPE_SIDE_LINE.exec(stderr)?.[1];
  return group === undefined ? undefined : Number(group);
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

class Semaphore {
  readonly #waiting: (() => void)[] = [];
  #free: number;
  constructor(size: number) {
    this.#free = size;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#free++;
    else next();
  }
}
