/** Runs a local process to completion and collects its output. */
import os from 'node:os';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { ExecResult } from './driver.ts';

export const DEFAULT_TIMEOUT_MS = 120_000;

export interface RunOptions {
  /** Written to standard input; a stream is piped (the SSH driver's file copies). */
  readonly input?: string | Uint8Array | Readable;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

function cannotRun(file: string, error: NodeJS.ErrnoException): Error {
  const hint =
    error.code === 'ENOENT'
      ? ` (${file} is not installed: run \`npm start\` or scripts/bootstrap.sh)`
      : '';
  return new Error(`cannot run ${file}: ${error.message}${hint}`, { cause: error });
}

/**
 * A finished process's exit code as the drivers report it: -1 when it was killed for its timeout
 * (or ended neither by a code nor a signal), 128 when a signal ended it.
 */
export function exitCodeOf(
  code: number | null,
  signal: NodeJS.Signals | null,
  timedOut: boolean,
): number {
  if (timedOut) return -1;
  return code ?? (signal === null ? -1 : 128);
}

/** Never rejects for a non-zero exit; rejects only when the program cannot be started at all. */
export function runProcess(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('empty command'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    let inputError = '';
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(cannotRun(file, error));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr:
          Buffer.concat(stderr).toString('utf8') + (timedOut ? '\n(timed out)' : '') + inputError,
        exitCode: exitCodeOf(code, signal, timedOut),
      });
    });
    const { input } = options;
    if (input !== undefined && child.stdin !== null) {
      child.stdin.on('error', () => undefined);
      if (input instanceof Readable) {
        // A source that fails half-way must not look like a complete input: end the command.
        input.once('error', (error) => {
          inputError = `\n(standard input failed: ${error.message})`;
          child.kill('SIGKILL');
        });
        input.pipe(child.stdin);
      } else child.stdin.end(input);
    }
  });
}

/** The end of a process whose output went to `runProcessLines`'s callback, not into memory. */
export type LinesResult = Omit<ExecResult, 'stdout'>;

/** The last this many bytes of a streamed process's error output are kept. */
const STDERR_TAIL_BYTES = 64 * 1024;

/**
 * Runs a local process to completion and hands each line of its standard output to `onLine` as
 * it comes, holding none of it: for outputs that may be larger than the memory of the process
 * reading them (`mariadb-binlog`'s text of a binary log is some 1.4 times the file's size).
 * A line `onLine` throws on stops the process; the promise rejects with that error. Never
 * rejects for a non-zero exit.
 */
export function runProcessLines(
  argv: readonly string[],
  onLine: (line: string) => void,
  options: Omit<RunOptions, 'input'> = {},
): Promise<LinesResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('empty command'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    let stderr = Buffer.alloc(0);
    let timedOut = false;
    let failed: unknown;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = Buffer.concat([stderr, chunk]);
      if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(-STDERR_TAIL_BYTES);
    });
    const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (failed !== undefined) return;
      try {
        onLine(line);
      } catch (error) {
        failed = error;
        child.kill('SIGKILL');
      }
    });
    const read = once(lines, 'close');
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      lines.close();
      reject(cannotRun(file, error));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // Every line is handed over before the result (readline ends with its input; a read
      // error of the pipe ends it too, and the exit code says the rest).
      void read
        .catch(() => undefined)
        .then(() => {
          if (failed !== undefined) {
            reject(failed instanceof Error ? failed : new Error('a line could not be read'));
            return;
          }
          resolve({
            stderr: stderr.toString('utf8') + (timedOut ? '\n(timed out)' : ''),
            exitCode: exitCodeOf(code, signal, timedOut),
          });
        });
    });
  });
}

const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs argv on this terminal (stdio inherited) and resolves with its exit code, 128 + the signal
 * that ended it as a shell says. While it runs, this process does not die of Ctrl-C, a TERM or a
 * HUP: each is passed on to it, and this process goes on to clean up once it has ended (an SSH
 * connection's master, say; killed along with it, it was left behind).
 */
export function attachProcess(
  argv: readonly string[],
  { endsWithInput = false }: { readonly endsWithInput?: boolean } = {},
): Promise<number> {
  const [file = '', ...args] = argv;
  return new Promise((resolve, reject) => {
    // A pipe nobody writes to, closed when this process ends (Command.endsWithInput).
    const held = endsWithInput && !process.stdin.isTTY;
    const child = spawn(file, args, { stdio: [held ? 'pipe' : 'inherit', 'inherit', 'inherit'] });
    child.stdin?.on('error', () => undefined);
    const forward = (signal: NodeJS.Signals): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    for (const signal of FORWARDED) process.on(signal, forward);
    const done = (): void => {
      for (const signal of FORWARDED) process.off(signal, forward);
    };
    child.once('error', (error) => {
      done();
      reject(error);
    });
    child.once('close', (code, signal) => {
      done();
      resolve(code ?? (signal === null ? 1 : 128 + os.constants.signals[signal]));
    });
  });
}
