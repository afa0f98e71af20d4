/**
 * One observation of a database server from where the observer stands: a TCP connection to its
 * MariaDB port that must bring the server's greeting (its first packet) within the timeout. A
 * refused connection, silence, or a greeting-less close all mean "not reachable from here".
 */
import net from 'node:net';

export interface Reach {
  readonly reachable: boolean;
  readonly ms: number;
  /** What went wrong; empty when reachable. */
  readonly detail: string;
}

/** MariaDB's greeting: a 4-byte packet header, then protocol version 10 (or 0xff, an error packet). */
function isGreeting(data: Buffer): boolean {
  const first = data[4];
  return data.length >= 5 && (first === 10 || first === 0xff);
}

export function probeMariadb(address: string, port: number, timeoutMs: number): Promise<Reach> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const socket = net.connect({ host: address, port });
    const finish = (reachable: boolean, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reachable, ms: Math.round(performance.now() - started), detail });
    };
    const timer = setTimeout(() => {
      finish(false, `no greeting within ${timeoutMs} ms`);
    }, timeoutMs);
    socket.once('data', (data) => {
      finish(isGreeting(data), isGreeting(data) ? '' : 'not a MariaDB greeting');
    });
    socket.once('error', (error) => {
      finish(false, error.message);
    });
    socket.once('close', () => {
      finish(false, 'closed before its greeting');
    });
  });
}
