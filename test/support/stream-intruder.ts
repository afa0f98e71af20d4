/**
 * Waits for the backup host's full-backup stream port to open, then tries to send it a backup
 * three ways it must refuse, and says what became of each (JSON on stdout): run inside a lab host
 * by the backup stream's test.
 *
 *   node test/support/stream-intruder.ts --to ADDR:PORT --ca FILE --name NAME --cert FILE --key FILE
 *
 * `plain`: clear text; `no-cert`: TLS 1.3 verifying the backup host, without a client
 * certificate; `other-cert`: TLS 1.3 with a client certificate (`--cert`, `--key`) that names
 * another host. Each writes a few KiB and waits for the backup host to end the connection.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';

export interface Attempt {
  readonly kind: 'plain' | 'no-cert' | 'other-cert';
  /** Whether the TLS handshake completed from this end's point of view. */
  readonly handshake: boolean;
  /** How the connection ended: `closed` by the backup host, or the error it ended with. */
  readonly ended: string;
  /** Whether it was still open after the wait (the backup host took what was sent). */
  readonly open: boolean;
}

const { values } = parseArgs({
  options: {
    to: { type: 'string' },
    ca: { type: 'string' },
    name: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'wait-ms': { type: 'string', default: '120000' },
  },
});
const [host = '', port = '0'] = (values.to ?? '').split(':');
const payload = Buffer.alloc(16 * 1024, 'x');

/** Resolves once a TCP connection to the port succeeds (closed at once), polling every 20 ms. */
async function portOpen(deadline: number): Promise<void> {
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(Number(port), host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        resolve(false);
      });
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${values.to ?? ''} never opened`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function attempt(kind: Attempt['kind'], socket: net.Socket, tlsMode: boolean): Promise<Attempt> {
  return new Promise((resolve) => {
    let handshake = false;
    let ended: string | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      resolve({ kind, handshake, ended: ended ?? 'closed', open: false });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ kind, handshake, ended: 'still open', open: true });
    }, 5000);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      ended ??= error.code ?? error.message;
    });
    socket.on('data', () => undefined);
    socket.on('close', finish);
    socket.once(tlsMode ? 'secureConnect' : 'connect', () => {
      handshake = tlsMode;
      socket.write(payload);
    });
  });
}

await portOpen(Date.now() + Number(values['wait-ms']));
const ca = readFileSync(values.ca ?? '');
const secure = {
  host,
  port: Number(port),
  servername: values.name,
  ca,
  minVersion: 'TLSv1.3' as const,
};
const attempts: Attempt[] = [
  await attempt('plain', net.connect(Number(port), host), false),
  await attempt('no-cert', tls.connect(secure), true),
  await attempt(
    'other-cert',
    tls.connect({
      ...secure,
      cert: readFileSync(values.cert ?? ''),
      key: readFileSync(values.key ?? ''),
    }),
    true,
  ),
];
process.stdout.write(`${JSON.stringify(attempts)}\n`);
