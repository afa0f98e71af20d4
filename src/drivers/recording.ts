/**
 * A driver that runs nothing: it records every call as a readable line. It backs `--dry-run` and
 * lets step tests assert the exact commands without root or daemons. In `simulate` mode it also
 * plays a fresh host on which every command succeeds: files live in memory, `find` and
 * `sha256sum` read them, HTTP probes answer 200 (Prometheus with every configured target up),
 * DNS probes an authoritative NOERROR, spawned processes show in /proc until a stopping signal,
 * and a reload gives a process new workers.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  CommandFailedError,
  type Command,
  type Driver,
  type ExecOptions,
  type ExecResult,
  type PipeEnd,
  type PipeResult,
  type SpawnOptions,
  type Survey,
  type Surveyed,
  type Target,
} from './driver.ts';
import { parse } from 'yaml';
import { pipeOutcome, type SideOutcome } from './pipe.ts';
import { quoteArgv } from './quote.ts';

/** Answers an exec; undefined means "succeeded with no output". */
export type Responder = (
  target: Target,
  argv: readonly string[],
  input?: string,
) => ExecResult | undefined;

const ok = (stdout: string): ExecResult => ({ stdout, stderr: '', exitCode: 0 });

export class RecordingDriver implements Driver {
  readonly calls: string[] = [];
  /** Files written through the driver, so a step that reads back what it wrote sees it. */
  readonly files = new Map<string, Buffer>();
  readonly #respond: Responder;
  readonly #simulate: boolean;
  /** Simulated network: namespaces, and addresses per namespace ('' is this machine) and link. */
  readonly #namespaces = new Set<string>();
  readonly #addresses = new Map<string, Map<string, string>>();
  /** Simulated processes: PID → command line, while they run. */
  readonly #processes = new Map<number, readonly string[]>();
  #nextPid = 10_000;

  constructor(respond: Responder = () => undefined, options: { simulate?: boolean } = {}) {
    this.#respond = respond;
    this.#simulate = options.simulate === true;
  }

  #record(target: Target, line: string): void {
    this.calls.push(`[${target ?? 'local'}] ${line}`);
  }

  #simulatedExec(argv: readonly string[]): ExecResult | undefined {
    const [program, ...args] = argv;
    if (program === 'curl') return ok(`${this.#simulatedPrometheus(args.at(-1) ?? '')}\n200 0.001`);
    if (program === 'dig')
      return ok(
        ';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n;; flags: qr aa; QUERY: 1\n',
      );
    if (program === 'ip') return this.#simulatedIp(args);
    if (program === 'find') {
      const dir = `${args[0] ?? ''}/`;
      const except = args.includes('!') ? args[args.indexOf('-path') + 1] : undefined;
      const found = [...this.files.keys()].filter((f) => f.startsWith(dir) && f !== except);
      // `-exec sha256sum -- {} +`: the checksums of what it found.
      if (args.includes('-exec')) return this.#simulatedExec(['sha256sum', '--', ...found]);
      return ok(found.map((f) => `${f}\n`).join(''));
    }
    if (program === 'kill' && ['TERM', 'KILL', 'QUIT', 'INT'].includes(args[1] ?? '')) {
      this.#processes.delete(Number(args[2]));
      return ok('');
    }
    if (program === 'sha256sum') {
      const lines = args
        .filter((arg) => arg !== '--')
        .map(
          (file) =>
            `${createHash('sha256')
              .update(this.files.get(file) ?? '')
              .digest('hex')}  ${file}\n`,
        );
      return ok(lines.join(''));
    }
    return undefined;
  }

  /**
   * Just enough of Prometheus' API for `up` to see its targets and rules: every target of the
   * prometheus.yml written through this driver, up, and the rules of the files it names. Other
   * URLs answer an empty body.
   */
  #simulatedPrometheus(url: string): string {
    const success = (data: object): string => JSON.stringify({ status: 'success', data });
    if (url.endsWith('/api/v1/alerts')) return success({ alerts: [] });
    const yaml = (file: string | undefined): unknown => {
      const content = file === undefined ? undefined : this.files.get(file);
      return content === undefined ? {} : parse(content.toString('utf8'));
    };
    const config = [...this.files.keys()].find((file) => file.endsWith('/prometheus.yml'));
    const parsed = yaml(config) as {
      rule_files?: string[];
      scrape_configs?: {
        job_name: string;
        static_configs?: { targets: string[]; labels?: Record<string, string> }[];
      }[];
    };
    if (url.includes('/api/v1/rules')) {
      const groups = (parsed.rule_files ?? []).flatMap(
        (file) => (yaml(file) as { groups?: { rules: unknown[] }[] }).groups ?? [],
      );
      return success({ groups });
    }
    if (!url.includes('/api/v1/targets')) return '';
    const activeTargets = (parsed.scrape_configs ?? []).flatMap((job) =>
      (job.static_configs ?? []).flatMap((group) =>
        group.targets.map((target) => ({
          labels: { job: job.job_name, ...group.labels },
          scrapeUrl: `http://${target}/metrics`,
          lastError: '',
          health: 'up',
        })),
      ),
    );
    return success({ activeTargets });
  }

  /** Just enough of iproute2 for the lab's network step to see what it built. */
  #simulatedIp(args: readonly string[]): ExecResult | undefined {
    const ns = args[0] === '-n' ? (args[1] ?? '') : '';
    const rest = args.filter((arg, i) => arg !== '-json' && !(ns !== '' && i < 2));
    const [object, verb, name] = rest;
    if (object === 'netns' && verb === 'add' && name !== undefined) this.#namespaces.add(name);
    if (object === 'netns' && verb === 'delete' && name !== undefined)
      this.#namespaces.delete(name);
    if (object === 'netns' && verb === 'list') {
      return ok(JSON.stringify([...this.#namespaces].map((n) => ({ name: n }))));
    }
    if (object === 'addr' && verb === 'add' && name !== undefined) {
      const links = this.#addresses.get(ns) ?? new Map<string, string>();
      links.set(rest[4] ?? '', name);
      this.#addresses.set(ns, links);
    }
    if (object === 'addr' && verb === 'show') {
      const links = [...(this.#addresses.get(ns) ?? [])].map(([ifname, cidr]) => {
        const [local, prefixlen] = cidr.split('/');
        return { ifname, addr_info: [{ family: 'inet', local, prefixlen: Number(prefixlen) }] };
      });
      return ok(JSON.stringify(links));
    }
    return args.includes('-json') ? ok('[]') : undefined;
  }

  #simulatedFile(file: string): string | undefined {
    const proc = /^\/proc\/(\d+)\/(stat|cmdline|task\/\d+\/children)$/.exec(file);
    const argv = this.#processes.get(Number(proc?.[1]));
    if (proc === null || argv === undefined) return undefined;
    if (proc[2] === 'stat') return `${proc[1] ?? ''} (simulated) S 1`;
    if (proc[2] === 'cmdline') return `${argv.join('\0')}\0`;
    // Each look shows a new worker, as after a reload.
    return `${this.#nextPid++}`;
  }

  exec(target: Target, command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    this.#record(target, `$ ${quoteArgv(command.argv)}`);
    const result =
      this.#respond(target, command.argv, command.input) ??
      (this.#simulate ? this.#simulatedExec(command.argv) : undefined) ??
      ok('');
    if (options.check !== false && result.exitCode !== 0) {
      return Promise.reject(
        new CommandFailedError(target, command.argv, result, quoteArgv(command.argv)),
      );
    }
    return Promise.resolve(result);
  }

  attach(target: Target, command: Command): Promise<number> {
    this.#record(target, `$ ${quoteArgv(command.argv)}`);
    return Promise.resolve(this.#respond(target, command.argv)?.exitCode ?? 0);
  }

  spawn(target: Target, command: Command, options: SpawnOptions): Promise<number> {
    this.#record(target, `spawn ${quoteArgv(command.argv)} >> ${options.logFile}`);
    const pid = this.#nextPid++;
    if (this.#simulate) this.#processes.set(pid, command.argv);
    return Promise.resolve(pid);
  }

  writeFile(
    target: Target,
    file: string,
    content: string | Uint8Array,
    mode = 0o644,
  ): Promise<void> {
    const bytes = Buffer.from(content);
    this.files.set(file, bytes);
    this.#record(target, `write ${file} (${bytes.length} bytes, mode ${mode.toString(8)})`);
    return Promise.resolve();
  }

  appendFile(target: Target, file: string, text: string): Promise<void> {
    this.files.set(
      file,
      Buffer.concat([this.files.get(file) ?? Buffer.alloc(0), Buffer.from(text)]),
    );
    this.#record(target, `append ${file} (${Buffer.byteLength(text)} bytes)`);
    return Promise.resolve();
  }

  readFile(_target: Target, file: string): Promise<string | undefined> {
    const stored = this.files.get(file)?.toString('utf8');
    return Promise.resolve(stored ?? (this.#simulate ? this.#simulatedFile(file) : undefined));
  }

  readFiles(target: Target, files: readonly string[]): Promise<(string | undefined)[]> {
    return Promise.all(files.map((file) => this.readFile(target, file)));
  }

  /** Its three calls, recorded as they would be without it. */
  async survey(target: string, survey: Survey): Promise<Surveyed> {
    await this.mkdirs(target, survey.dirs);
    const contents = await this.readFiles(target, survey.files);
    return { contents, result: await this.exec(target, survey.command) };
  }

  mkdir(target: Target, dir: string): Promise<void> {
    this.#record(target, `mkdir ${dir}`);
    return Promise.resolve();
  }

  async mkdirs(target: Target, dirs: readonly string[]): Promise<void> {
    for (const dir of dirs) await this.mkdir(target, dir);
  }

  remove(target: Target, file: string): Promise<void> {
    for (const key of [...this.files.keys()]) {
      if (key === file || key.startsWith(`${file}/`)) this.files.delete(key);
    }
    this.#record(target, `remove ${file}`);
    return Promise.resolve();
  }

  async copyFile(target: Target, from: string, to: string): Promise<void> {
    this.#record(target, `copy ${from} -> ${to}`);
    // Only that it exists matters (it may be a 100 MB binary): keep its size, not its bytes.
    if (this.#simulate) this.files.set(to, Buffer.from(`(${(await fs.stat(from)).size} bytes)`));
  }

  async copyDir(target: Target, from: string, to: string): Promise<void> {
    this.#record(target, `copy ${from}/ -> ${to}/`);
    if (!this.#simulate) return;
    for (const entry of await fs.readdir(from, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const source = path.join(entry.parentPath, entry.name);
      this.files.set(path.join(to, path.relative(from, source)), await fs.readFile(source));
    }
  }

  /**
   * One line for both sides, on the source's: `[db-01] $ A | [db-02] $ B`. A responder may make a
   * side fail (PipeFailedError, as the real drivers throw); nothing is streamed.
   */
  pipe(from: PipeEnd, to: PipeEnd): Promise<PipeResult> {
    this.#record(
      from.target,
      `$ ${quoteArgv(from.command.argv)} | [${to.target ?? 'local'}] $ ${quoteArgv(to.command.argv)}`,
    );
    const side = (end: PipeEnd): SideOutcome => ({
      result: this.#respond(end.target, end.command.argv) ?? ok(''),
      stopped: false,
    });
    return Promise.resolve().then(() =>
      pipeOutcome(from, to, { bytes: 0, from: side(from), to: side(to) }),
    );
  }

  symlink(target: Target, to: string, link: string): Promise<void> {
    this.files.set(link, Buffer.from(`->${to}`));
    this.#record(target, `symlink ${link} -> ${to}`);
    return Promise.resolve();
  }

  readlink(_target: Target, link: string): Promise<string | undefined> {
    const value = this.files.get(link)?.toString('utf8');
    return Promise.resolve(value?.startsWith('->') === true ? value.slice(2) : undefined);
  }
}
