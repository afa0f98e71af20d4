/**
 * The driver behind `foobar up --plan`: reads go to the real hosts, every change is recorded
 * instead of made. A file write becomes a diff against what the host holds now (none when equal),
 * a command that is not marked `readOnly` becomes a line of the plan, and steps add what they
 * would do to a daemon ("haproxy: reload") through `action`. Later reads see the planned files, so
 * a step that reads back what it wrote plans on.
 */
import {
  type Command,
  type Driver,
  type ExecOptions,
  type ExecResult,
  type PipeEnd,
  type PipeResult,
  type SpawnOptions,
  type Target,
} from './driver.ts';
import { quoteArgv } from './quote.ts';
import { unifiedDiff } from '../lib/diff.ts';

export type PlannedChange =
  | {
      readonly kind: 'file';
      readonly target: Target;
      readonly path: string;
      /** Unified diff against the host's file; empty for a secret (mode 0600), never shown. */
      readonly diff: string;
      readonly created: boolean;
      readonly secret: boolean;
    }
  | { readonly kind: 'action'; readonly target: Target; readonly what: string }
  | { readonly kind: 'command'; readonly target: Target; readonly line: string };

/** What a step tells the plan it would do, beyond files and commands. */
export interface PlanRecorder {
  action(target: Target, what: string): void;
}

const done: ExecResult = { stdout: '', stderr: '', exitCode: 0 };

/** Files readable only by their owner hold secrets: their content is never shown. */
const isSecretMode = (mode: number): boolean => (mode & 0o077) === 0;

export class PlanningDriver implements Driver, PlanRecorder {
  readonly changes: PlannedChange[] = [];
  readonly #inner: Driver;
  /** Planned content per target and path; null: planned to be removed. */
  readonly #files = new Map<string, string | null>();

  constructor(inner: Driver) {
    this.#inner = inner;
  }

  action(target: Target, what: string): void {
    this.changes.push({ kind: 'action', target, what });
  }

  #command(target: Target, line: string): void {
    this.changes.push({ kind: 'command', target, line });
  }

  #key(target: Target, file: string): string {
    return `${target ?? ''}\0${file}`;
  }

  async #exists(target: Target, file: string, test: '-d' | '-e'): Promise<boolean> {
    const result = await this.#inner.exec(
      target,
      { argv: ['test', test, file], readOnly: true },
      { check: false },
    );
    return result.exitCode === 0;
  }

  exec(target: Target, command: Command, options?: ExecOptions): Promise<ExecResult> {
    if (command.readOnly === true) return this.#inner.exec(target, command, options);
    this.#command(target, `$ ${quoteArgv(command.argv)}`);
    return Promise.resolve(done);
  }

  attach(target: Target, command: Command): Promise<number> {
    return Promise.reject(
      new Error(
        `a plan runs no interactive command (${target ?? 'this machine'}: ${quoteArgv(command.argv)})`,
      ),
    );
  }

  spawn(target: Target, command: Command, options: SpawnOptions): Promise<number> {
    this.#command(target, `start ${quoteArgv(command.argv)} >> ${options.logFile}`);
    return Promise.resolve(0);
  }

  async writeFile(
    target: Target,
    file: string,
    content: string | Uint8Array,
    mode = 0o644,
  ): Promise<void> {
    const text = typeof content === 'string' ? content : Buffer.from(content).toString('utf8');
    const before = await this.readFile(target, file);
    this.#files.set(this.#key(target, file), text);
    if (before === text) return;
    const secret = isSecretMode(mode);
    this.changes.push({
      kind: 'file',
      target,
      path: file,
      diff: secret ? '' : unifiedDiff(file, before, text),
      created: before === undefined,
      secret,
    });
  }

  async appendFile(target: Target, file: string, text: string): Promise<void> {
    const before = (await this.readFile(target, file)) ?? '';
    this.#files.set(this.#key(target, file), before + text);
    this.#command(target, `append ${Buffer.byteLength(text)} bytes to ${file}`);
  }

  async readFile(target: Target, file: string): Promise<string | undefined> {
    const planned = this.#files.get(this.#key(target, file));
    if (planned !== undefined) return planned ?? undefined;
    return this.#inner.readFile(target, file);
  }

  async readFiles(target: Target, files: readonly string[]): Promise<(string | undefined)[]> {
    const planned = files.map((file) => this.#files.get(this.#key(target, file)));
    const unplanned = files.filter((_, i) => planned[i] === undefined);
    const read = unplanned.length === 0 ? [] : await this.#inner.readFiles(target, unplanned);
    let next = 0;
    return planned.map((content) =>
      content === undefined ? read[next++] : (content ?? undefined),
    );
  }

  async mkdirs(target: Target, dirs: readonly string[]): Promise<void> {
    for (const dir of dirs) await this.mkdir(target, dir);
  }

  async mkdir(target: Target, dir: string): Promise<void> {
    // Several daemons of a host share directories: ask once.
    const key = this.#key(target, dir);
    if (this.#files.has(key)) return;
    this.#files.set(key, '');
    if (!(await this.#exists(target, dir, '-d'))) this.#command(target, `mkdir ${dir}`);
  }

  async remove(target: Target, file: string): Promise<void> {
    const planned = this.#files.get(this.#key(target, file));
    if (planned === null) return;
    if (planned === undefined && !(await this.#exists(target, file, '-e'))) return;
    this.#files.set(this.#key(target, file), null);
    this.#command(target, `remove ${file}`);
  }

  copyFile(target: Target, from: string, to: string): Promise<void> {
    this.#command(target, `copy ${from} -> ${to}`);
    return Promise.resolve();
  }

  copyDir(target: Target, from: string, to: string): Promise<void> {
    this.#command(target, `copy ${from}/ -> ${to}/`);
    return Promise.resolve();
  }

  /** Streams change the receiving host: the plan shows both commands there. */
  pipe(from: PipeEnd, to: PipeEnd): Promise<PipeResult> {
    const source = `${from.target ?? 'this machine'}: $ ${quoteArgv(from.command.argv)}`;
    this.#command(to.target, `stream from ${source} | $ ${quoteArgv(to.command.argv)}`);
    return Promise.resolve({ bytes: 0, from: done, to: done });
  }

  async symlink(target: Target, to: string, link: string): Promise<void> {
    if ((await this.readlink(target, link)) === to) return;
    this.#files.set(this.#key(target, `${link}\0link`), to);
    this.#command(target, `symlink ${link} -> ${to}`);
  }

  async readlink(target: Target, link: string): Promise<string | undefined> {
    const planned = this.#files.get(this.#key(target, `${link}\0link`));
    if (planned !== undefined) return planned ?? undefined;
    return this.#inner.readlink(target, link);
  }
}
