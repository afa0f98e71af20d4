/**
 * Tries many connections at once from the host it runs on, and says what became of each: run
 * inside a lab host by the reachability test.
 *
 *   node test/support/reach.ts --timeout-ms 1000 '[{"address":"10.77.1.11","port":443,"proto":"tcp"}]'
 *
 * TCP: `open` (connected), `refused` (RST: nothing listens, or this host's own firewall refused
 * it), `timeout` (no answer: dropped), `unreachable` (no route). UDP (DNS only): a query for the
 * root SOA; `open` when any answer comes back, `timeout` when none does, `prohibited` when this
 * host's own firewall would not send it (EPERM).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { parseArgs } from 'node:util';

export interface Probe {
  readonly address: string;
  readonly port: number;
  readonly proto: 'tcp' | 'udp';
}

export type Outcome =
  'open' | 'refused' | 'timeout' | 'unreachable' | 'prohibited' | `error ${string}`;

function classify(error: NodeJS.ErrnoException): Outcome {
  if (error.code === 'ECONNREFUSED') return 'refused';
  if (error.code === 'EPERM') return 'prohibited';
  if (error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH') return 'unreachable';
  return `error ${error.code ?? error.message}`;
}

/** The first outcome a socket reports, or `timeout`; the socket is closed either way. */
function firstOutcome(
  timeoutMs: number,
  close: () => void,
  watch: (report: (outcome: Outcome) => void) => void,
): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const report = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      close();
      resolve(outcome);
    };
    // Timers run before the event loop polls sockets: a process starved of CPU for longer than
    // the timeout (hundreds of probes on a loaded machine) would call every probe a timeout,
    // answers already waiting included. setImmediate runs after the next poll, so those count.
    const timer = setTimeout(() => {
      setImmediate(() => {
        report('timeout');
      });
    }, timeoutMs);
    watch(report);
  });
}

function tcp(probe: Probe, timeoutMs: number): Promise<Outcome> {
  const socket = net.connect({ host: probe.address, port: probe.port });
  return firstOutcome(
    timeoutMs,
    () => socket.destroy(),
    (report) => {
      socket.once('connect', () => {
        report('open');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        report(classify(error));
      });
    },
  );
}

/** A minimal DNS query: id 0x4242, one question, ". IN SOA". */
const DNS_QUERY = Buffer.from([
  0x42, 0x42, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00,
  0x01,
]);

function udp(probe: Probe, timeoutMs: number): Promise<Outcome> {
  const socket = dgram.createSocket('udp4');
  return firstOutcome(
    timeoutMs,
    () => socket.close(),
    (report) => {
      socket.once('message', () => {
        report('open');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        report(classify(error));
      });
      // Unconnected: a route error comes back here, an answer as a message.
      socket.send(DNS_QUERY, probe.port, probe.address, (error) => {
        if (error !== null) report(classify(error));
      });
    },
  );
}

export async function probeAll(probes: readonly Probe[], timeoutMs: number): Promise<Outcome[]> {
  return Promise.all(
    probes.map((p) => (p.proto === 'tcp' ? tcp(p, timeoutMs) : udp(p, timeoutMs))),
  );
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    options: { 'timeout-ms': { type: 'string', default: '1000' } },
    allowPositionals: true,
  });
  const probes = JSON.parse(positionals[0] ?? '[]') as Probe[];
  const outcomes = await probeAll(probes, Number(values['timeout-ms']));
  process.stdout.write(`${JSON.stringify(outcomes)}\n`);
}
