/**
 * What the lab's own commands ask without starting a process. A namespace isolates a host's
 * network only: its files, and the Unix sockets among them, are files on this machine. Each
 * process a command starts costs it about 10–20 ms here (the kernel's fork, exec and exit on this
 * VM, and Node.js waits for the exec), and `status` or a no-op `up` start dozens. So the namespaces
 * are read from their directory, a release's checksums are taken here, and HAProxy's stats come
 * from its admin socket. Machines, `up --plan` and `--dry-run` go through their drivers as before.
 */
import { readdir } from 'node:fs/promises';
import net from 'node:net';
import { checksumTree } from '../../release/manifest.ts';
import type { DirectAccess } from '../../steps/context.ts';

/** Where `ip netns add` mounts each namespace: `ip netns list` lists this directory. */
export const NETNS_DIR = '/run/netns';

/**
 * Sends `request` to a Unix socket and resolves to all it answered once it closed the connection
 * (HAProxy's admin socket answers one command and closes); rejects on an error or after
 * `timeoutMs` without the end.
 */
export function askSocket(socket: string, request: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const connection = net.connect(socket);
    const timer = setTimeout(() => {
      connection.destroy();
      reject(new Error(`no complete answer on ${socket} within ${timeoutMs} ms`));
    }, timeoutMs);
    connection.on('connect', () => connection.end(request));
    connection.on('data', (chunk: Buffer) => chunks.push(chunk));
    connection.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`cannot ask ${socket}: ${error.code ?? error.message}`));
    });
    connection.once('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

export const labDirect: DirectAccess = {
  async namespaces() {
    try {
      return new Set(await readdir(NETNS_DIR));
    } catch (error) {
      // No namespace was ever added on this machine: ip makes the directory on the first.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
      throw error;
    }
  },
  ask: askSocket,
  // Hashed here by the function that made the build's manifest on this machine.
  checksumTree,
};
