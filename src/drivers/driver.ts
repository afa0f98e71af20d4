/**
 * The host driver: the only way the rest of foobar touches a host. Steps and probes call it with
 * commands built as argv arrays (src/commands); quoting, namespaces and transports live below it.
 */

/** A command as data: never a shell string. */
export interface Command {
  readonly argv: readonly string[];
  /** Written to the command's standard input. */
  readonly input?: string;
  /** Killed after this long; the default is generous, long work passes its own. */
  readonly timeoutMs?: number;
  /**
   * It changes nothing on the host (a listing, a probe, a SELECT): `foobar up --plan` runs it on
   * the real host, and records every other command instead of running it.
   */
  readonly readOnly?: boolean;
  /**
   * For `attach`: the command reads nothing and ends when its standard input closes (`foobar logs
   * -f`). Without a terminal it gets a pipe that foobar holds open while it runs, so it ends with
   * foobar however foobar ends (a script's kill, even SIGKILL), and over SSH with the connection.
   */
  readonly endsWithInput?: boolean;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface ExecOptions {
  /** Throw CommandFailedError on a non-zero exit (the default). */
  readonly check?: boolean;
}

export interface SpawnOptions {
  /** Standard output and error are appended here. */
  readonly logFile: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** `null` is this machine itself (the admin host); anything else is a host name of the model. */
export type Target = string | null;

/** One end of a pipe: a command on a host. Its standard input (`to`) or output (`from`) is the stream. */
export interface PipeEnd {
  readonly target: Target;
  readonly command: Command;
}

export interface PipeOptions {
  /** Called with the bytes streamed so far about once a second, and once at the end. */
  readonly onProgress?: (bytes: number) => void;
}

export interface PipeResult {
  /** Bytes that went from one side to the other. */
  readonly bytes: number;
  readonly from: ExecResult;
  readonly to: ExecResult;
}

export interface Driver {
  exec(target: Target, command: Command, options?: ExecOptions): Promise<ExecResult>;
  /** Runs a command with this terminal's stdin, stdout and stderr; resolves to its exit code. */
  attach(target: Target, command: Command): Promise<number>;
  /** Starts a long-running process, detached from foobar; resolves to its PID. */
  spawn(target: Target, command: Command, options: SpawnOptions): Promise<number>;
  /** Atomic: readers see the old or the new content, never a mix. Creates parent directories. */
  writeFile(
    target: Target,
    file: string,
    content: string | Uint8Array,
    mode?: number,
  ): Promise<void>;
  /** Appends to a file (O_APPEND: concurrent writers never overwrite each other). */
  appendFile(target: Target, file: string, text: string, mode?: number): Promise<void>;
  /** Undefined when the file does not exist. */
  readFile(target: Target, file: string): Promise<string | undefined>;
  /**
   * Several files at once, in order, each as readFile reads it: one round trip on a remote host
   * (a no-op `up` reads every config file it would write, hundreds of them).
   */
  readFiles(target: Target, files: readonly string[]): Promise<(string | undefined)[]>;
  mkdir(target: Target, dir: string, mode?: number): Promise<void>;
  /** mkdir of each directory (each gets the mode): one round trip on a remote host. */
  mkdirs(target: Target, dirs: readonly string[], mode?: number): Promise<void>;
  /** Recursive; no error when absent. */
  remove(target: Target, file: string): Promise<void>;
  /** Copies one file from this machine to the host (mode kept), atomically. */
  copyFile(target: Target, from: string, to: string): Promise<void>;
  /** Copies a directory tree from this machine to the host. */
  copyDir(target: Target, from: string, to: string): Promise<void>;
  /**
   * Runs two commands at once, maybe on two hosts, `from`'s standard output streamed into `to`'s
   * standard input through this machine's memory: never a file anywhere on the way. Both must
   * succeed. When one side fails the other is stopped at once (it would wait for ever on a pipe
   * nobody serves), and PipeFailedError names every side that failed with its stderr tail; each
   * side is bounded by its own command's timeout.
   */
  pipe(from: PipeEnd, to: PipeEnd, options?: PipeOptions): Promise<PipeResult>;
  /** Points `link` at `to`, replacing an existing link atomically. */
  symlink(target: Target, to: string, link: string): Promise<void>;
  readlink(target: Target, link: string): Promise<string | undefined>;
  /**
   * Reaches the host over a new connection, not one already open (which a firewall keeps as
   * established): undefined when it answered, else why not. Only drivers that reach hosts over
   * the network have it (SSH); a lab host cannot be cut off from this machine.
   */
  reachAnew?(target: string, timeoutMs: number): Promise<string | undefined>;
  /**
   * mkdirs (mode 0755), readFiles and a read-only command, in that order and in one round trip: a
   * daemon in good order is checked with it (ensureDaemon). Only drivers that pay a round trip per
   * call have it (SSH); the others make the three calls.
   */
  survey?(target: string, survey: Survey): Promise<Surveyed>;
  /**
   * Follows a file of a host that is read many times a second, looked at every `everyMs` there
   * and sent when it changes: one long session instead of one per read. Only drivers whose reads
   * cost a session have it (SSH); a lab host's files are this machine's.
   */
  follow?(target: string, file: string, everyMs: number): FileFollower;
}

/** A file as a follower last saw it: `text` undefined when there is no such file. */
export interface FollowedFile {
  readonly text: string | undefined;
}

export interface FileFollower {
  /** The file as last seen, if that was recent (within a few looks); else undefined: read it. */
  latest(): FollowedFile | undefined;
  /** Ends the session, on both sides. */
  close(): void;
}

export interface Survey {
  readonly dirs: readonly string[];
  readonly files: readonly string[];
  readonly command: Command;
}

export interface Surveyed {
  /** Each of the files, as readFiles reads them. */
  readonly contents: (string | undefined)[];
  /** The command's; a failed command fails the survey, as a checked exec does. */
  readonly result: ExecResult;
}

const STDERR_TAIL_LINES = 12;

export class CommandFailedError extends Error {
  readonly target: string;
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderrTail: string;
  constructor(target: Target, argv: readonly string[], result: ExecResult, display: string) {
    const tail = (result.stderr.trim() || result.stdout.trim())
      .split('\n')
      .slice(-STDERR_TAIL_LINES)
      .join('\n');
    const where = target ?? 'this machine';
    const how = result.exitCode < 0 ? 'timed out' : `failed (exit ${result.exitCode})`;
    super(`${where}: ${display} ${how}${tail === '' ? '' : `:\n${tail}`}`);
    this.name = 'CommandFailedError';
    this.target = where;
    this.argv = argv;
    this.exitCode = result.exitCode;
    this.stderrTail = tail;
  }
}

/** Bytes as an operator reads them: "512 B", "3.4 MB". */
export function formatBytes(bytes: number): string {
  return bytes < 1_048_576 ? `${bytes} B` : `${(bytes / 1_048_576).toFixed(1)} MB`;
}

/**
 * A pipe that did not complete: every side that failed on its own (a CommandFailedError each,
 * with its host, command and stderr tail), and the side foobar stopped because of it.
 */
export class PipeFailedError extends Error {
  readonly failures: readonly Error[];
  readonly bytes: number;
  readonly from: ExecResult;
  readonly to: ExecResult;
  constructor(
    ends: { readonly from: Target; readonly to: Target },
    result: PipeResult,
    failures: readonly Error[],
    stopped: readonly string[],
  ) {
    const name = (target: Target): string => target ?? 'this machine';
    super(
      [
        `streaming from ${name(ends.from)} to ${name(ends.to)} failed after ${formatBytes(result.bytes)}:`,
        ...failures.map((failure) => failure.message),
        ...stopped.map((side) => `${side} was stopped: the other side had failed`),
      ].join('\n'),
    );
    this.name = 'PipeFailedError';
    this.failures = failures;
    this.bytes = result.bytes;
    this.from = result.from;
    this.to = result.to;
  }
}
