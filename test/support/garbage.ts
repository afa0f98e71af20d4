/**
 * A bad client: opens many connections and sends random bytes on each, then waits for the server
 * to close them. Prints how many the server closed, and the first bytes it answered on one.
 *
 *   node test/support/garbage.ts --address 10.77.1.11 --port 443 --connections 20
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    address: { type: 'string' },
    port: { type: 'string' },
    connections: { type: 'string', default: '20' },
    'give-up-ms': { type: 'string', default: '10000' },
  },
});

function one(): Promise<{ closed: boolean; answer: string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: values.address ?? '', port: Number(values.port) });
    let answer = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ closed, answer });
    };
    const timer = setTimeout(() => {
      finish(false);
    }, Number(values['give-up-ms']));
    socket.on('connect', () => {
      // Not HTTP, not TLS: bytes no parser accepts (a CR LF pair makes HTTP parsers look at it).
      socket.write(Buffer.concat([randomBytes(2048), Buffer.from('\r\n\r\n')]));
    });
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    socket.on('error', () => {
      finish(true);
    });
    socket.on('close', () => {
      finish(true);
    });
  });
}

const results = await Promise.all(Array.from({ length: Number(values.connections) }, one));
process.stdout.write(
  `${JSON.stringify({
    connections: results.length,
    closedByServer: results.filter((r) => r.closed).length,
    firstAnswer: results.find((r) => r.answer !== '')?.answer.split('\r\n')[0] ?? '',
  })}\n`,
);
