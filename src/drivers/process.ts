/** Runs a local process to completion and collects its output. */
import os from 'node:os';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import type { ExecResult } from './driver.ts';

export const DEFAULT_TIMEOUT_MS = 120_000;

export interface RunOptions {
  /** Written to standard input; a stream is piped (the SSH driver's file copies). */
  readonly input?: string | Uint8Array | Readable;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
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
      const hint =
        error.code === 'ENOENT'
          ? ` (${file} is not installed: run \`npm start\` or scripts/bootstrap.sh)`
          : '';
      reject(new Error(`cannot run ${file}: ${error.message}${hint}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr:
          Buffer.concat(stderr).toString('utf8') + (timedOut ? '\n(timed out)' : '') + inputError,
        exitCode: timedOut ? -1 : (code ?? (signal === null ? -1 : 128)),
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
