/**
 * The lab driver: every host is a network namespace on this machine (`ip netns`), so files are
 * local and commands run through `ip netns exec`.
 */
import { spawn } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  CommandFailedError,
  type Command,
  type Driver,
  type ExecOptions,
  type ExecResult,
  type PipeEnd,
  type PipeOptions,
  type PipeResult,
  type SpawnOptions,
  type Target,
} from './driver.ts';
import { pipeOutcome, pipeSide, runLocalPipe } from './pipe.ts';
import { attachProcess, runProcess } from './process.ts';
import { quoteArgv } from './quote.ts';

let temporaries = 0;

/** A name beside `file` that no other call of this process uses, even one running at once. */
function beside(file: string, tag: string): string {
  temporaries += 1;
  return `${file}.${process.pid}.${temporaries}.${tag}`;
}

export class NetnsDriver implements Driver {
  readonly #namespaceOf: (host: string) => string;

  constructor(namespaceOf: (host: string) => string) {
    this.#namespaceOf = namespaceOf;
  }

  argvFor(target: Target, argv: readonly string[]): string[] {
    return target === null
      ? [...argv]
      : ['ip', 'netns', 'exec', this.#namespaceOf(target), ...argv];
  }

  async exec(target: Target, command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const result = await runProcess(this.argvFor(target, command.argv), command);
    if (options.check !== false && result.exitCode !== 0) {
      throw new CommandFailedError(target, command.argv, result, quoteArgv(command.argv));
    }
    return result;
  }

  attach(target: Target, command: Command): Promise<number> {
    return attachProcess(this.argvFor(target, command.argv), {
      endsWithInput: command.endsWithInput === true,
    });
  }

  async spawn(target: Target, command: Command, options: SpawnOptions): Promise<number> {
    await fs.mkdir(path.dirname(options.logFile), { recursive: true });
    const argv = this.argvFor(target, command.argv);
    // A pipe (the lab's appender reads it) is opened read-write: that never waits for its
    // reader, and the process never gets EPIPE while the reader starts or restarts.
    const pipe = await fs.stat(options.logFile).then(
      (s) => s.isFIFO(),
      () => false,
    );
    const fd = openSync(
      options.logFile,
      pipe ? constants.O_RDWR : constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT,
      0o640,
    );
    try {
      const child = spawn(argv[0] ?? '', argv.slice(1), {
        detached: true,
        stdio: ['ignore', fd, fd],
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...options.env },
        cwd: options.cwd ?? '/',
      });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('spawn', () => {
          resolve(child.pid ?? -1);
        });
      });
      child.unref();
      return pid;
    } finally {
      closeSync(fd);
    }
  }

  async writeFile(
    _target: Target,
    file: string,
    content: string | Uint8Array,
    mode = 0o644,
  ): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const temp = beside(file, 'tmp');
    await fs.writeFile(temp, content, { mode });
    await fs.chmod(temp, mode);
    await fs.rename(temp, file);
  }

  async appendFile(_target: Target, file: string, text: string, mode = 0o644): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.appendFile(file, text, { mode });
  }

  async readFile(_target: Target, file: string): Promise<string | undefined> {
    try {
      return await fs.readFile(file, 'utf8');
    } catch (error) {
      // ESRCH: a /proc file whose process exited between open and read.
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') return undefined;
      throw error;
    }
  }

  /** Local files: read together, no round trip to save. */
  readFiles(target: Target, files: readonly string[]): Promise<(string | undefined)[]> {
    return Promise.all(files.map((file) => this.readFile(target, file)));
  }

  async mkdirs(target: Target, dirs: readonly string[], mode = 0o755): Promise<void> {
    for (const dir of dirs) await this.mkdir(target, dir, mode);
  }

  /**
   * As `mkdir -p -m MODE`: only `dir` gets the mode. Node's recursive mkdir gives it to every
   * parent it makes too, and a secrets directory made 0700 before its lab's state directory
   * existed closed the state directory to the daemons' users (NSD: SERVFAIL, Permission denied).
   */
  async mkdir(_target: Target, dir: string, mode = 0o755): Promise<void> {
    await fs.mkdir(path.dirname(dir), { recursive: true });
    await fs.mkdir(dir, { recursive: true, mode });
  }

  async remove(_target: Target, file: string): Promise<void> {
    await fs.rm(file, { recursive: true, force: true });
  }

  async copyFile(_target: Target, from: string, to: string): Promise<void> {
    await fs.mkdir(path.dirname(to), { recursive: true });
    const temp = beside(to, 'tmp');
    await fs.copyFile(from, temp);
    await fs.rename(temp, to);
  }

  /** Copies beside the target, then swaps it in: readers see the old tree or the new one. */
  async copyDir(_target: Target, from: string, to: string): Promise<void> {
    const fresh = beside(to, 'new');
    const stale = beside(to, 'old');
    await fs.rm(fresh, { recursive: true, force: true });
    await fs.cp(from, fresh, { recursive: true, preserveTimestamps: true });
    await fs.rename(to, stale).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
    await fs.rename(fresh, to);
    await fs.rm(stale, { recursive: true, force: true });
  }

  /** Both commands in their namespaces, joined through this process's memory. */
  async pipe(from: PipeEnd, to: PipeEnd, options?: PipeOptions): Promise<PipeResult> {
    const [source, sink] = [pipeSide(from), pipeSide(to)];
    const outcome = await runLocalPipe(
      { ...source, argv: this.argvFor(from.target, source.argv) },
      { ...sink, argv: this.argvFor(to.target, sink.argv) },
      options,
    );
    return pipeOutcome(from, to, outcome);
  }

  async symlink(_target: Target, to: string, link: string): Promise<void> {
    const temp = beside(link, 'tmp');
    await fs.rm(temp, { force: true });
    await fs.symlink(to, temp);
    await fs.rename(temp, link);
  }

  async readlink(_target: Target, link: string): Promise<string | undefined> {
    try {
      return await fs.readlink(link);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
}
