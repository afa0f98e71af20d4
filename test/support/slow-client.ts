/**
 * A slow client (slowloris): opens a TLS connection and sends a request head one header line at a
 * time, never finishing it. Prints how long the server let it go on and what it answered.
 *
 *   node test/support/slow-client.ts --host www.foobar.com --address 10.77.1.11 --port 443 \
 *     --cacert CA --interval-ms 500 --give-up-ms 20000
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    address: { type: 'string' },
    port: { type: 'string', default: '443' },
    cacert: { type: 'string' },
    'interval-ms': { type: 'string', default: '500' },
    'give-up-ms': { type: 'string', default: '20000' },
  },
});
const host = values.host ?? '';
const started = Date.now();
const socket = tls.connect({
  host: values.address ?? host,
  port: Number(values.port),
  servername: host,
  ALPNProtocols: ['http/1.1'],
  ...(values.cacert === undefined ? {} : { ca: readFileSync(values.cacert) }),
});
let received = '';
let lines = 0;
const timer = setInterval(() => {
  socket.write(lines === 0 ? `GET / HTTP/1.1\r\nHost: ${host}\r\n` : `X-Slow-${lines}: 1\r\n`);
  lines++;
}, Number(values['interval-ms']));
const giveUp = setTimeout(() => {
  finish('still open');
}, Number(values['give-up-ms']));
let finished = false;
function finish(how: string): void {
  if (finished) return;
  finished = true;
  clearInterval(timer);
  clearTimeout(giveUp);
  socket.destroy();
  const statusLine = received.split('\r\n')[0] ?? '';
  process.stdout.write(
    `${JSON.stringify({ how, afterMs: Date.now() - started, linesSent: lines, statusLine })}\n`,
  );
}
socket.on('data', (chunk: Buffer) => {
  received += chunk.toString('latin1');
});
socket.on('error', (error: NodeJS.ErrnoException) => {
  finish(`error ${error.code ?? error.message}`);
});
socket.on('close', () => {
  finish('closed by the server');
});
