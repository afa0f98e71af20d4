/**
 * A web server whose database is slow to let it in: runs a copy of the live release on this host
 * (its settings, another port) against the primary through a proxy that holds every packet of a
 * connection's first moments (its TCP, TLS and login handshake) for `--delay-ms`, in order, and
 * passes the rest at once. So making a connection takes seconds while each query answers in
 * milliseconds, as on a machine too busy to finish TLS quickly. Waits for the copy's /readyz,
 * then reads and writes through it; prints what it saw as JSON, and stops what it started.
 *
 *   node test/support/slow-db.ts --env ENV_FILE --release DIR --primary 10.77.2.31:3306 \
 *     --topology DB_JSON --port 3001 --delay-ms 300 --slow-for-ms 1500 --text 'a message'
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    env: { type: 'string' },
    release: { type: 'string' },
    topology: { type: 'string' },
    primary: { type: 'string' },
    port: { type: 'string' },
    'delay-ms': { type: 'string', default: '300' },
    'slow-for-ms': { type: 'string', default: '1500' },
    'wait-ms': { type: 'string', default: '20000' },
    text: { type: 'string', default: 'through a slow handshake' },
  },
});
const need = (name: string, value: string | undefined): string => {
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
};
const delayMs = Number(values['delay-ms']);
const slowForMs = Number(values['slow-for-ms']);
const [primaryHost = '', primaryPort = ''] = need('primary', values.primary).split(':');

/** One direction of a proxied connection: each chunk delayed while the connection is young. */
function relay(from: net.Socket, to: net.Socket, opened: number): void {
  let releaseAt = 0;
  from.on('data', (chunk) => {
    const now = Date.now();
    const delay = now - opened < slowForMs ? delayMs : 0;
    // Never before the chunk ahead of it: the bytes stay in order.
    releaseAt = Math.max(releaseAt, now + delay);
    setTimeout(() => to.write(chunk), releaseAt - now);
  });
  from.on('close', () => setTimeout(() => to.destroy(), Math.max(0, releaseAt - Date.now())));
  from.on('error', () => undefined);
}

const proxy = net.createServer((client) => {
  const opened = Date.now();
  const upstream = net.connect(Number(primaryPort), primaryHost);
  relay(client, upstream, opened);
  relay(upstream, client, opened);
});
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const proxyPort = (proxy.address() as net.AddressInfo).port;

// The live settings, the primary reached through the proxy, no replica (reads go to it too).
const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-slow-db-'));
const topology = JSON.parse(readFileSync(need('topology', values.topology), 'utf8')) as Record<
  string,
  unknown
> & { primary: Record<string, unknown> };
topology.primary = { ...topology.primary, host: '127.0.0.1', port: proxyPort };
topology.replicas = [];
const topologyFile = path.join(dir, 'db.json');
writeFileSync(topologyFile, JSON.stringify(topology));
const env: Record<string, string> = {};
for (const line of readFileSync(need('env', values.env), 'utf8').split('\n')) {
  const at = line.indexOf('=');
  if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
}
const port = need('port', values.port);
Object.assign(env, {
  FOOBAR_APP_PORT: port,
  FOOBAR_DB_TOPOLOGY: topologyFile,
  FOOBAR_LOG_FILE: path.join(dir, 'app.log'),
});

const started = Date.now();
const app = spawn(process.execPath, [path.join(need('release', values.release), 'server.mjs')], {
  env,
  stdio: 'ignore',
});
const base = `http://127.0.0.1:${port}`;

async function ask(url: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(3000) });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    return { status: 0, body: (error as Error).message };
  }
}

let readyAfterMs: number | null = null;
let readyz = { status: 0, body: '' };
const deadline = started + Number(values['wait-ms']);
while (Date.now() < deadline) {
  readyz = await ask(`${base}/readyz`);
  if (readyz.status === 200) {
    readyAfterMs = Date.now() - started;
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
}
// Once ready: a write and a read, each on a connection of the app's pool (new ones, made slowly).
const write =
  readyAfterMs === null
    ? null
    : await ask(`${base}/api/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: values.text }),
      });
const read = readyAfterMs === null ? null : await ask(`${base}/api/messages?limit=1`);

app.kill('SIGTERM');
await new Promise((resolve) => app.once('exit', resolve));
proxy.close();
rmSync(dir, { recursive: true, force: true });
const statusOf = (answer: { status: number; body: string } | null): number | null =>
  answer?.status ?? null;
console.log(
  JSON.stringify({
    readyAfterMs,
    lastReadyz: readyz.body.slice(0, 300),
    write: statusOf(write),
    read: statusOf(read),
    readBody: read?.body.slice(0, 300) ?? null,
  }),
);
process.exit(0);
