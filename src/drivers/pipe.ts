/**
 * Two processes of this machine joined stdout → stdin through this process's memory, the bytes
 * counted on the way. The drivers give it the argv that reaches each host (`ip netns exec` for the
 * lab, `ssh` for machines) and turn its outcome into a PipeResult or a PipeFailedError, so a
 * stream between two hosts never touches a file here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  CommandFailedError,
  PipeFailedError,
  type ExecResult,
  type PipeEnd,
  type PipeOptions,
  type PipeResult,
} from './driver.ts';
import { DEFAULT_TIMEOUT_MS, exitCodeOf } from './process.ts';
import { quoteArgv } from './quote.ts';

/** What runs on this machine for one side. */
export interface LocalSide {
  readonly argv: readonly string[];
  /** Killed after this long (the remote side's own timeout ends it there first). */
  readonly timeoutMs: number;
  /**
   * Ends what runs on the far side of this process when foobar stops the side (the SSH driver
   * kills the command's process group on its host); given the side's stderr so far.
   */
  readonly stopThere?: (stderr: string) => Promise<void>;
}

export interface SideOutcome {
  readonly result: ExecResult;
  /** Ended by foobar because the other side had failed or stopped reading. */
  readonly stopped: boolean;
}

export interface LocalPipeOutcome {
  readonly bytes: number;
  readonly from: SideOutcome;
  readonly to: SideOutcome;
}

/** mariadb-backup says a line per file copied: the end of it is what explains a failure. */
const STDERR_KEPT_BYTES = 256 * 1024;
const PROGRESS_INTERVAL_MS = 1000;

/** A side's command and its bound, checked: its standard input or output is the stream, not `input`. */
export function pipeSide(end: PipeEnd): LocalSide {
  if (end.command.input !== undefined) {
    throw new Error(
      `${end.target ?? 'this machine'}: a command of a pipe reads the stream, not an input of its own`,
    );
  }
  return { argv: end.command.argv, timeoutMs: end.command.timeoutMs ?? DEFAULT_TIMEOUT_MS };
}

class Side {
  readonly child: ChildProcess;
  readonly #stderr: Buffer[] = [];
  #stderrBytes = 0;
  #timedOut = false;
  #spawnError = '';
  stopped = false;
  /** Settles when what `stopThere` does is done. */
  stoppedThere: Promise<void> = Promise.resolve();
  readonly closed: Promise<ExecResult>;
  readonly #stopThere: LocalSide['stopThere'];
  #running = true;

  constructor(side: LocalSide, stdio: ['ignore' | 'pipe', 'pipe' | 'ignore']) {
    this.#stopThere = side.stopThere;
    const [file = '', ...args] = side.argv;
    // A process group of its own: a side ended by foobar is ended whole (a shell's children
    // would hold the pipes open), and Ctrl-C of foobar reaches it only through the stream.
    this.child = spawn(file, args, { stdio: [stdio[0], stdio[1], 'pipe'], detached: true });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr.push(chunk);
      this.#stderrBytes += chunk.length;
      while (this.#stderrBytes > STDERR_KEPT_BYTES && this.#stderr.length > 1)
        this.#stderrBytes -= this.#stderr.shift()?.length ?? 0;
    });
    const timer = setTimeout(() => {
      this.#timedOut = true;
      this.#kill();
    }, side.timeoutMs);
    this.child.once('error', (error) => {
      this.#spawnError = `cannot run ${file}: ${error.message}`;
    });
    this.closed = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.#running = false;
        const stderr = Buffer.concat(this.#stderr).toString('utf8');
        resolve({
          stdout: '',
          stderr: stderr + (this.#spawnError === '' ? '' : `\n${this.#spawnError}`),
          exitCode:
            this.#spawnError !== '' && !this.#timedOut
              ? 127
              : exitCodeOf(code, signal, this.#timedOut),
        });
      });
    });
  }

  get running(): boolean {
    return this.#running;
  }

  stop(): void {
    if (!this.#running || this.stopped) return;
    this.stopped = true;
    const stderr = Buffer.concat(this.#stderr).toString('utf8');
    this.stoppedThere = this.#stopThere?.(stderr).catch(() => undefined) ?? Promise.resolve();
    this.#kill();
  }

  #kill(): void {
    const pid = this.child.pid;
    if (pid === undefined || !this.#running) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * Runs both sides; resolves when both have ended, whatever happened. The source's output is
 * relayed with backpressure (a slow receiver slows the sender, nothing piles up in memory). A side
 * that fails ends the other: a failed source leaves the receiver a stream without its end, a
 * receiver that stopped reading leaves the source blocked on a full pipe.
 */
export async function runLocalPipe(
  from: LocalSide,
  to: LocalSide,
  options: PipeOptions = {},
): Promise<LocalPipeOutcome> {
  const source = new Side(from, ['ignore', 'pipe']);
  const sink = new Side(to, ['pipe', 'ignore']);
  let bytes = 0;
  /** The source closed its output: every byte it sends has been read. */
  let sent = false;
  const output = source.child.stdout;
  const input = sink.child.stdin;
  input?.on('error', () => undefined);
  if (output !== null && input !== null) {
    output.on('data', (chunk: Buffer) => (bytes += chunk.length));
    output.once('end', () => (sent = true));
    output.pipe(input);
  }
  let reported = -1;
  const report = (): void => {
    if (options.onProgress === undefined || bytes === reported) return;
    reported = bytes;
    options.onProgress(bytes);
  };
  const progress = setInterval(report, PROGRESS_INTERVAL_MS);
  const sourceDone = source.closed.then((result) => {
    if (result.exitCode !== 0) sink.stop();
    return result;
  });
  const sinkDone = sink.closed.then((result) => {
    // A receiver that ended while the source still had bytes to send ends the source. One that
    // ended after the source closed its output read it all: the source is exiting (mariadb-backup
    // says its last words first), and its own exit, or its timeout, ends it.
    if (source.running && !sent) {
      output?.unpipe();
      output?.destroy();
      source.stop();
    }
    return result;
  });
  const [fromResult, toResult] = await Promise.all([sourceDone, sinkDone]);
  await Promise.all([source.stoppedThere, sink.stoppedThere]);
  clearInterval(progress);
  report();
  return {
    bytes,
    from: { result: fromResult, stopped: source.stopped },
    to: { result: toResult, stopped: sink.stopped },
  };
}

/**
 * The pipe's result, or the error that says what failed where: messages name each side's host and
 * its command's argv, not the transport around it.
 */
export function pipeOutcome(from: PipeEnd, to: PipeEnd, outcome: LocalPipeOutcome): PipeResult {
  const result: PipeResult = {
    bytes: outcome.bytes,
    from: outcome.from.result,
    to: outcome.to.result,
  };
  const failures: Error[] = [];
  const stopped: string[] = [];
  for (const [end, side] of [
    [from, outcome.from],
    [to, outcome.to],
  ] as const) {
    if (side.stopped)
      stopped.push(`${end.target ?? 'this machine'}: ${quoteArgv(end.command.argv)}`);
    else if (side.result.exitCode !== 0) {
      const { target, command } = end;
      failures.push(
        new CommandFailedError(target, command.argv, side.result, quoteArgv(command.argv)),
      );
    }
  }
  // The receiver ended well but early: the source was stopped with bytes still to send.
  if (failures.length === 0 && outcome.from.stopped) {
    failures.push(
      new Error(
        `${to.target ?? 'this machine'}: ${quoteArgv(to.command.argv)} ended before the stream did`,
      ),
    );
    stopped.length = 0;
  }
  if (failures.length > 0)
    throw new PipeFailedError({ from: from.target, to: to.target }, result, failures, stopped);
  return result;
}
