/**
 * The full backup's stream, TLS against clear text, between the two hosts it runs between
 * (bench/transit.ts starts both ends; settings as JSON on standard input):
 *
 *   node bench/transit-stream.ts receive   on the backup host: a TLS server with the backup
 *                                          agent's options (its certificate, the lab's CA, a client
 *                                          certificate required, TLS 1.3) and a plain TCP server,
 *                                          each on a port of the bench's; it takes `streams`
 *                                          streams of `bytes` bytes, answers `ok` after each, and
 *                                          prints what each cost it (JSON), or gives up at its
 *                                          deadline or after a minute with nothing sent
 *   node bench/transit-stream.ts send      on the replica: as `send` connects (TLS 1.3, the backup
 *                                          host verified by its core name, the replica's client
 *                                          certificate), or in clear text, `rounds` interleaved
 *                                          rounds of one stream each way of incompressible bytes;
 *                                          prints the rounds (JSON)
 *
 * The receiver discards the bytes (`sink: discard`: the transport alone), or seals them as the
 * agent stores a full backup (`sink: seal`: zstd, AES-256-GCM, sha256, into a file it deletes).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import tls from 'node:tls';
import { seal } from '../src/backup/seal.ts';
import { alternate } from './compare.ts';

export interface StreamEnd {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface StreamSettings {
  /** The backup host's core address, and the ports the bench opened to it. */
  readonly address: string;
  readonly tlsPort: number;
  readonly clearPort: number;
  /** The backup host's core name, which the sender verifies. */
  readonly serverName: string;
  readonly bytes: number;
  readonly rounds: number;
  readonly sink: 'discard' | 'seal';
  /** Each end gives up (and says so) this long after it starts. */
  readonly deadlineMs: number;
  /** The receiver's TLS files (the backup host's), or the sender's (the replica's). */
  readonly files: StreamEnd;
  /** Where the receiver makes its directory for `seal`'s files (removed afterwards). */
  readonly dir?: string;
}

export interface StreamLeg {
  readonly bytes: number;
  /** From the connection's start to the receiver's `ok`, as the sender saw it. */
  readonly seconds: number;
  /** The sender process's CPU time during it. */
  readonly cpuSeconds: number;
  readonly cipher?: string;
}

export interface StreamRound {
  readonly tls: StreamLeg;
  readonly clear: StreamLeg;
}

export interface Received {
  readonly tls: boolean;
  readonly bytes: number;
  /** The receiver process's CPU time from the connection to its `ok`. */
  readonly cpuSeconds: number;
}

/** The streams a run sends: a warm-up each way, then one each way per round. */
export function streamsOf(rounds: number): number {
  return 2 * (rounds + 1);
}

function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Counts `bytes` bytes of the connection into the sink, then answers `ok`. */
function take(
  socket: net.Socket,
  settings: StreamSettings,
  secure: boolean,
  key: Buffer,
  touch: () => void,
): Promise<Received> {
  const cpu = cpuSeconds();
  const into = new PassThrough();
  const file = path.join(settings.dir ?? '', `stream-${process.hrtime.bigint()}`);
  const sunk =
    settings.sink === 'seal'
      ? seal(into, file, key).then(async () => {
          await rm(file);
          await rm(`${file}.sha256`);
        })
      : new Promise<void>((resolve) => {
          into.on('end', resolve).resume();
        });
  let got = 0;
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      touch();
      if (got >= settings.bytes) return;
      got += chunk.length;
      if (!into.write(chunk)) {
        socket.pause();
        into.once('drain', () => socket.resume());
      }
      if (got < settings.bytes) return;
      into.end();
      sunk.then(() => {
        socket.end('ok\n');
        resolve({ tls: secure, bytes: got, cpuSeconds: cpuSeconds() - cpu });
      }, reject);
    });
  });
}

/** The receiver gives up this long after the last byte or connection (a sender that failed). */
const IDLE_MS = 60_000;

/** Takes the run's streams; false if the deadline, or a minute with nothing sent, came first. */
async function receive(settings: StreamSettings): Promise<boolean> {
  const key = randomBytes(32);
  const files = settings.files;
  const received: Received[] = [];
  const wanted = streamsOf(settings.rounds);
  let queue = Promise.resolve();
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const idle = setTimeout(finish, IDLE_MS);
  const touch = (): void => {
    idle.refresh();
  };
  const accept = (secure: boolean) => (socket: net.Socket) => {
    touch();
    // One stream at a time, as the agent takes one.
    queue = queue.then(async () => {
      received.push(await take(socket, settings, secure, key, touch));
      if (received.length >= wanted) finish();
    });
  };
  // The backup agent's own options (src/backup/agent.ts, streamTls).
  const secureServer = tls.createServer(
    {
      cert: await readFile(files.cert),
      key: await readFile(files.key),
      ca: await readFile(files.ca),
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
    },
    accept(true),
  );
  const clearServer = net.createServer(accept(false));
  await Promise.all(
    [
      [secureServer, settings.tlsPort],
      [clearServer, settings.clearPort],
    ].map(
      ([server, port]) =>
        new Promise<void>((resolve, reject) => {
          (server as net.Server).once('error', reject);
          (server as net.Server).listen(port as number, settings.address, resolve);
        }),
    ),
  );
  const deadline = setTimeout(finish, settings.deadlineMs);
  await finished;
  clearTimeout(deadline);
  clearTimeout(idle);
  secureServer.close();
  clearServer.close();
  process.stdout.write(`${JSON.stringify(received)}\n`);
  return received.length >= wanted;
}

interface Connected {
  readonly socket: net.Socket;
  /** The TLS cipher suite agreed, over TLS. */
  readonly cipher?: string;
}

/** Connects as `send` does (or in clear text), retrying while the receiver is not listening yet. */
async function connect(settings: StreamSettings, secure: boolean): Promise<Connected> {
  const retryUntil = Date.now() + 15_000;
  for (;;) {
    try {
      return await new Promise<Connected>((resolve, reject) => {
        if (!secure) {
          const socket = net.connect(settings.clearPort, settings.address);
          socket.once('connect', () => {
            resolve({ socket });
          });
          socket.once('error', reject);
          return;
        }
        const socket = tls.connect({
          host: settings.address,
          port: settings.tlsPort,
          servername: settings.serverName,
          ca: readFileSync(settings.files.ca),
          cert: readFileSync(settings.files.cert),
          key: readFileSync(settings.files.key),
          minVersion: 'TLSv1.3',
        });
        socket.once('secureConnect', () => {
          resolve({ socket, cipher: socket.getCipher().standardName });
        });
        socket.once('error', reject);
      });
    } catch (error) {
      const refused = (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
      if (!refused || Date.now() > retryUntil) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** 32 MiB of random bytes, sent over and over: more than zstd's window, so it finds no repeat. */
let source: Buffer | undefined;
const CHUNK = 64 * 1024;

async function stream(
  settings: StreamSettings,
  secure: boolean,
  until: number,
): Promise<StreamLeg> {
  const SOURCE = (source ??= randomBytes(32 * 1024 * 1024));
  const cpu = cpuSeconds();
  const started = Date.now();
  const { socket, cipher } = await connect(settings, secure);
  const answered = new Promise<void>((resolve, reject) => {
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
    });
    socket.on('end', () => {
      if (answer === 'ok\n') resolve();
      else reject(new Error(`the receiver answered ${JSON.stringify(answer)}`));
    });
    socket.on('error', reject);
  });
  for (let sent = 0; sent < settings.bytes;) {
    if (Date.now() > until) throw new Error('the stream passed its deadline');
    const at = sent % SOURCE.length;
    const length = Math.min(CHUNK, settings.bytes - sent, SOURCE.length - at);
    if (!socket.write(SOURCE.subarray(at, at + length)))
      await new Promise((resolve) => socket.once('drain', resolve));
    sent += length;
  }
  await answered;
  socket.destroy();
  return {
    bytes: settings.bytes,
    seconds: (Date.now() - started) / 1000,
    cpuSeconds: cpuSeconds() - cpu,
    ...(cipher === undefined ? {} : { cipher }),
  };
}

async function send(settings: StreamSettings): Promise<void> {
  const until = Date.now() + settings.deadlineMs;
  // A warm-up each way, not counted.
  await stream(settings, true, until);
  await stream(settings, false, until);
  const rounds: StreamRound[] = (
    await alternate(
      settings.rounds,
      () => stream(settings, true, until),
      () => stream(settings, false, until),
    )
  ).map(([tls, clear]) => ({ tls, clear }));
  process.stdout.write(`${JSON.stringify(rounds)}\n`);
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const settings = JSON.parse(readFileSync(0, 'utf8')) as StreamSettings;
  if (mode === 'receive') {
    const dir = await mkdtemp(path.join(settings.dir ?? '/tmp', 'bench-stream-'));
    const complete = await receive({ ...settings, dir }).finally(() =>
      rm(dir, { recursive: true, force: true }),
    );
    // Whatever is still connected at the deadline is not waited for.
    process.exit(complete ? 0 : 1);
  } else if (mode === 'send') await send(settings);
  else throw new Error('usage: node bench/transit-stream.ts receive|send < SETTINGS');
}

if (import.meta.main) await main();
