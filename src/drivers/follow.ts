/**
 * A file on a remote host followed through one long SSH session (ssh-command.ts FOLLOW_FILE), for
 * a daemon that reads it every fraction of a second: the failover managers read the site's
 * database.json five times a second. A session per read cost the monitor's sshd, PAM and a shell
 * about 90 ms of CPU each; the idle machines of the tests spent 0.95 of their two cores on it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { FileFollower, FollowedFile } from './driver.ts';

/** A restart waits this long after the session ended, doubling while it keeps failing. */
const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 10_000;

/** What one frame of FOLLOW_FILE says. */
export type Frame = FollowedFile | { readonly unreadable: true } | 'unchanged';

export function parseFrame(frame: string): Frame {
  if (frame === '.') return 'unchanged';
  if (frame === '-') return { text: undefined };
  if (frame === '!') return { unreadable: true };
  if (frame.startsWith('+')) return { text: frame.slice(1) };
  throw new Error(`not a frame of FOLLOW_FILE: ${JSON.stringify(frame.slice(0, 40))}`);
}

export interface SessionStarter {
  /** The argv of the session (ssh ... -- host 'bash -c ...'), its connection open. */
  argv(): Promise<string[]>;
  /** Taken before the session starts, released when it ends: one of the host's sessions. */
  acquire(): Promise<void>;
  release(): void;
}

export class SessionFollower implements FileFollower {
  readonly #starter: SessionStarter;
  /** A frame older than this says nothing: the session is stuck or gone. */
  readonly #freshMs: number;
  #child: ChildProcess | undefined;
  #closed = false;
  #retryMs = FIRST_RETRY_MS;
  #retry: NodeJS.Timeout | undefined;
  #seen: { file: FollowedFile | undefined; at: number } = { file: undefined, at: 0 };

  constructor(starter: SessionStarter, everyMs: number) {
    this.#starter = starter;
    this.#freshMs = Math.max(1000, 5 * everyMs);
    void this.#start();
  }

  latest(): FollowedFile | undefined {
    if (performance.now() - this.#seen.at > this.#freshMs) return undefined;
    return this.#seen.file;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#child?.stdin?.end();
    this.#child?.kill('SIGTERM');
  }

  async #start(): Promise<void> {
    let argv: string[];
    try {
      argv = await this.#starter.argv();
    } catch {
      // Unreachable for now: reads go to the file meanwhile, and say why.
      this.#ended();
      return;
    }
    await this.#starter.acquire();
    // close() may have come while it connected or waited for a session.
    if (this.#closed) {
      this.#starter.release();
      return;
    }
    const [command = 'ssh', ...args] = argv;
    // What went wrong is a direct read's to say (latest() has nothing meanwhile).
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    this.#child = child;
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let end = pending.indexOf('\0');
      while (end >= 0) {
        this.#frame(pending.slice(0, end));
        pending = pending.slice(end + 1);
        end = pending.indexOf('\0');
      }
    });
    // Its stdin is never written: the remote loop ends when it closes.
    child.stdin.on('error', () => undefined);
    child.once('error', () => undefined);
    child.once('close', () => {
      this.#starter.release();
      this.#child = undefined;
      this.#ended();
    });
  }

  #frame(text: string): void {
    const frame = parseFrame(text);
    const at = performance.now();
    this.#retryMs = FIRST_RETRY_MS;
    if (frame === 'unchanged') {
      this.#seen = { ...this.#seen, at };
    } else if ('unreadable' in frame) {
      // Said by a direct read, which names the error.
      this.#seen = { file: undefined, at: 0 };
    } else {
      this.#seen = { file: frame, at };
    }
  }

  #ended(): void {
    this.#seen = { file: undefined, at: 0 };
    if (this.#closed) return;
    this.#retry = setTimeout(() => void this.#start(), this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, LAST_RETRY_MS);
  }
}
