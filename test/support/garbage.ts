/**
 * A bad client: opens many connections and sends random bytes on each, then waits for the server
 * to close them. Prints how each connection ended (closed or reset by the server once connected,
 * or a socket error such as a refused connection) and what the server answered on each.
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
    // Longer than HAProxy's `timeout client` (30 s): a connection it holds that long is closed.
    'give-up-ms': { type: 'string', default: '35000' },
  },
});

/** How a connection ended: the server closed it (FIN or RST once connected), or something else. */
type Ending = 'closed' | 'reset' | 'still open' | 'never connected' | `error ${string}`;

/** What the server sent back, in one word: nothing, a TLS alert, or its first line. */
function describeAnswer(answer: Buffer): string {
  if (answer.length === 0) return 'nothing';
  // A TLS record of type 21 (alert).
  if (answer[0] === 0x15) return 'TLS alert';
  return answer.toString('latin1').split('\r\n')[0] ?? '';
}

function one(): Promise<{ ending: Ending; answer: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host: values.address ?? '', port: Number(values.port) });
    const chunks: Buffer[] = [];
    let connected = false;
    let done = false;
    const finish = (ending: Ending): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ending, answer: describeAnswer(Buffer.concat(chunks)), ms: Date.now() - started });
    };
    const timer = setTimeout(() => {
      finish(connected ? 'still open' : 'never connected');
    }, Number(values['give-up-ms']));
    socket.on('connect', () => {
      connected = true;
      // Not HTTP, not TLS: bytes no parser accepts (a CR LF pair makes HTTP parsers look at it).
      // It starts with a zero byte: random bytes can begin like a TLS record (type 22, or an SSLv2
      // hello's length), and then the server rightly waits for the rest of that record.
      socket.write(Buffer.concat([Buffer.from([0]), randomBytes(2047), Buffer.from('\r\n\r\n')]));
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset once connected is the server shutting the door; anything else is not.
      finish(
        connected && error.code === 'ECONNRESET' ? 'reset' : `error ${error.code ?? error.message}`,
      );
    });
    socket.on('close', () => {
      finish(connected ? 'closed' : 'error closed before connecting');
    });
  });
}

const results = await Promise.all(Array.from({ length: Number(values.connections) }, one));
const tally = (key: 'ending' | 'answer'): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const result of results) counts[result[key]] = (counts[result[key]] ?? 0) + 1;
  return counts;
};
process.stdout.write(
  `${JSON.stringify({
    connections: results.length,
    endings: tally('ending'),
    answers: tally('answer'),
    // The longest a connection stayed before it ended (or was given up).
    slowestMs: Math.max(...results.map((r) => r.ms)),
  })}\n`,
);
