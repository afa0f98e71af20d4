/**
 * On a booted machine, over SSH only: what a machine needs outside the site for itself, named in
 * the model, is all its firewall lets out beside the flows. This machine stands for the outside:
 * its address on the core bridge is the machines' resolver and time server, its address on the
 * edge bridge their package mirror, each port with a listener of this test's own that echoes.
 * The machine reaches DNS (53, UDP and TCP) and NTP (123/udp) there, the mirror's 80 and 443 only
 * while provisioning's opening lasts, and never another port or address: those are refused at
 * once by its own firewall, and counted.
 *   FOOBAR_TEST_MACHINES=fbmo FOOBAR_TEST_MACHINES_NET=10.93 npx tsx --test test/machines/outside.test.ts
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nft } from '../../src/commands/nft.ts';
import { NetnsDriver } from '../../src/drivers/netns.ts';
import { SshDriver } from '../../src/drivers/ssh.ts';
import { buildModel } from '../../src/model/build.ts';
import { findHost, type Host } from '../../src/model/model.ts';
import {
  MIRROR_OPEN_SECONDS,
  provisionMachine,
  withMirrorsOpen,
} from '../../src/platform/machines/provision.ts';
import { FIREWALL_TABLE, MIRROR_SET } from '../../src/render/nftables/index.ts';
import { createContext, type Context } from '../../src/steps/context.ts';
import { droppedPackets, ensureFirewall } from '../../src/steps/firewall.ts';
import { ensureImage } from './image.ts';
import { machinesOfRun, type Machine } from './machines.ts';

const local = new NetnsDriver((host) => {
  throw new Error(`machines tests run commands on this machine only, not in ${host}`);
});
const {
  name: NAME,
  core: CORE,
  edge: EDGE,
  machines,
} = machinesOfRun(local, { name: 'fbmo', net: '10.93' });
/** This machine on each bridge: the resolver and time server (core), the mirror (edge). */
const RESOLVER = `${CORE}.1`;
const MIRROR = `${EDGE}.1`;
/** Ports nothing the model names: a listener there shows that only the firewall refuses. */
const OTHER_TCP = 18_080;
const OTHER_UDP = 10_123;
const TCP_PORTS = [53, 80, 443, OTHER_TCP];
/** A server package without a daemon, small, in this machine's apt cache: the one to reinstall. */
const PACKAGE = 'etcd-client';
const UDP_PORTS = [53, 123, OTHER_UDP];
/** A cold image build measured 12.5 min; from the cache, well under a second. */
const IMAGE_TIMEOUT_MS = 40 * 60_000;

type Outcome = 'open' | 'refused' | 'prohibited' | 'timeout' | `other ${string}`;

interface Probe {
  readonly proto: 'tcp' | 'udp';
  readonly address: string;
  readonly port: number;
}

/**
 * Every probe at once, from the machine (socat, one SSH round trip), each a line "what outcome":
 * `open` when an answer came back (the echo; the mirror's HTTP says 400), `refused` (a TCP reset), `prohibited` (EPERM: the machine's own
 * firewall would not send it), `timeout`.
 */
const PROBE_SCRIPT = `
probe() {
  err=$(mktemp)
  if [ "$1" = tcp ]; then
    out=$(echo ping | timeout 10 socat -t 3 -T 5 - "TCP:$2:$3,connect-timeout=4" 2>"$err")
  else
    out=$(echo ping | timeout 10 socat -t 3 -T 5 - "UDP:$2:$3" 2>"$err")
  fi
  e=$(cat "$err"); rm -f "$err"
  if [ -n "$out" ]; then r=open; else
    case "$e" in
      *"Connection refused"*) r=refused ;;
      *"Operation not permitted"*) r=prohibited ;;
      *"timed out"*|"") r=timeout ;;
      *) r="other $(printf %s "$e" | tr '\\n' ' ')" ;;
    esac
  fi
  echo "$1:$2:$3 $r"
}
for spec in "$@"; do
  IFS=: read -r proto address port <<EOF
$spec
EOF
  probe "$proto" "$address" "$port" &
done
wait
`;

let machine: Machine;
let dir: string;
let ctx: Context;
let lb: Host;
const servers: (net.Server | http.Server)[] = [];
const sockets: dgram.Socket[] = [];

/** The files the mirror serves (by name), and the names asked for. */
let repo: string;
const fetched: string[] = [];

/**
 * A package mirror of one package on MIRROR:80, a flat repository (`deb [trusted=yes] URL ./`):
 * a .deb from this machine's apt cache, its Packages index and an unsigned Release file.
 */
function mirrorServer(): http.Server {
  return http.createServer((request, response) => {
    const name = decodeURIComponent(
      path.basename(new URL(request.url ?? '/', 'http://mirror').pathname),
    );
    fetched.push(name);
    const file = path.join(repo, name);
    if (name === '' || !existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(response);
  });
}

async function makeRepo(): Promise<string> {
  const archives = '/var/cache/apt/archives';
  const deb = readdirSync(archives).find((f) => f.startsWith(`${PACKAGE}_`) && f.endsWith('.deb'));
  assert.ok(deb !== undefined, `no ${PACKAGE} .deb in ${archives} to serve as the mirror`);
  copyFileSync(path.join(archives, deb), path.join(repo, deb));
  const scanned = await local.exec(null, {
    argv: ['dpkg-scanpackages', '--multiversion', repo, '/dev/null'],
  });
  const packages = scanned.stdout;
  writeFileSync(path.join(repo, 'Packages'), packages);
  const sha = createHash('sha256').update(packages).digest('hex');
  writeFileSync(
    path.join(repo, 'Release'),
    [
      'Origin: foobar-test',
      'Label: foobar-test',
      `Date: ${new Date().toUTCString()}`,
      'Architectures: amd64',
      'SHA256:',
      ` ${sha} ${Buffer.byteLength(packages)} Packages`,
      '',
    ].join('\n'),
  );
  return deb;
}

/** Echo listeners on this machine's address on each bridge: every port a probe tries. */
async function listen(): Promise<void> {
  const mirror = mirrorServer();
  await new Promise<void>((resolve, reject) => {
    mirror.once('error', reject);
    mirror.listen(80, MIRROR, resolve);
  });
  servers.push(mirror);
  for (const address of [RESOLVER, MIRROR]) {
    for (const port of TCP_PORTS) {
      if (address === MIRROR && port === 80) continue;
      const server = net.createServer((socket) => {
        socket.on('error', () => undefined);
        socket.pipe(socket);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, address, resolve);
      });
      servers.push(server);
    }
    for (const port of UDP_PORTS) {
      const socket = dgram.createSocket('udp4');
      socket.on('message', (message, from) => {
        socket.send(message, from.port, from.address);
      });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, address, resolve);
      });
      sockets.push(socket);
    }
  }
}

async function probe(probes: readonly Probe[]): Promise<Map<string, Outcome>> {
  const specs = probes.map((p) => `${p.proto}:${p.address}:${p.port}`);
  const result = await ctx.driver.exec('lb-01', {
    argv: ['bash', '-c', PROBE_SCRIPT, 'probe', ...specs],
    timeoutMs: 60_000,
  });
  const outcomes = new Map<string, Outcome>();
  for (const line of result.stdout.trim().split('\n')) {
    const cut = line.indexOf(' ');
    outcomes.set(line.slice(0, cut), line.slice(cut + 1) as Outcome);
  }
  return outcomes;
}

/** Probes and compares with `expected` ("tcp:address:port" → outcome), as one assertion. */
async function expectOutcomes(expected: Readonly<Record<string, Outcome>>): Promise<void> {
  const probes = Object.keys(expected).map((spec): Probe => {
    const [proto, address, port] = spec.split(':');
    return { proto: proto === 'udp' ? 'udp' : 'tcp', address: address ?? '', port: Number(port) };
  });
  const got = await probe(probes);
  assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, got.get(k)])), expected);
}

/** Refused by the machine's own firewall: what the matrix calls refused at the source. */
const refusals = (expected: Readonly<Record<string, Outcome>>): number =>
  Object.values(expected).filter((o) => o === 'refused' || o === 'prohibited').length;

const mirrorSet = nft.listSet(FIREWALL_TABLE.family, FIREWALL_TABLE.name, MIRROR_SET);

async function refusedCount(): Promise<number> {
  const count = await droppedPackets(ctx, 'lb-01', 'output');
  assert.ok(count !== undefined, 'lb-01: no output_refused counter');
  return count;
}

describe(
  'on a machine, what it needs outside the site',
  { timeout: IMAGE_TIMEOUT_MS + 10 * 60_000 },
  () => {
    before(async () => {
      await machines.down();
      const image = await ensureImage({ driver: local });
      [machine] = machines.plan(['lb-01']) as [Machine];
      await machines.up([machine], image);
      dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-machines-outside-'));
      repo = path.join(dir, 'mirror');
      mkdirSync(repo);
      await listen();
      const sshConfig = path.join(dir, 'ssh_config');
      writeFileSync(
        sshConfig,
        `Host *\n  IdentityFile ${machines.access.identity}\n  IdentitiesOnly yes\n`,
      );
      // The site test's shape; only lb-01 is booted, the other machines are never contacted.
      const model = buildModel({
        platform: 'machines',
        machines: {
          name: NAME.slice(0, 6),
          stateDir: path.join(dir, 'state'),
          sshConfig,
          ssh: { user: 'root', port: 22 },
          resolvers: [RESOLVER],
          timeServers: [`${RESOLVER}/32`],
          mirrors: [MIRROR],
        },
        networks: { edge: { subnet: `${EDGE}.0/24` }, core: { subnet: `${CORE}.0/24` } },
        admin: { edge: `${EDGE}.1`, core: `${CORE}.1` },
        hosts: {
          'lb-01': {
            roles: ['lb', 'dns'],
            ssh: { host: machine.edge },
            edge: machine.edge,
            core: machine.address,
          },
          'lb-02': {
            roles: ['lb', 'dns', 'mon'],
            ssh: { host: `${EDGE}.112` },
            edge: `${EDGE}.112`,
            core: `${CORE}.112`,
          },
          'web-01': { roles: ['web', 'db'], ssh: { host: `${CORE}.121` }, core: `${CORE}.121` },
          'web-02': { roles: ['web', 'db'], ssh: { host: `${CORE}.122` }, core: `${CORE}.122` },
        },
        vrrp: { virtualAddresses: { 'lb-01': `${EDGE}.10`, 'lb-02': `${EDGE}.20` } },
      });
      ctx = createContext(model);
      const host = findHost(model, 'lb-01');
      assert.ok(host !== undefined);
      lb = host;
    });

    after(async () => {
      if (ctx.driver instanceof SshDriver) await ctx.driver.close();
      for (const server of servers) server.close();
      for (const socket of sockets) socket.close();
      await machines.down();
      rmSync(dir, { recursive: true, force: true });
    });

    it('reaches its resolver and time server only, and the mirror only while provisioning opens it', async (t) => {
      const closed: Record<string, Outcome> = {
        [`udp:${RESOLVER}:53`]: 'open',
        [`tcp:${RESOLVER}:53`]: 'open',
        [`udp:${RESOLVER}:123`]: 'open',
        // Another port of the same address, the same ports at another address: refused.
        [`udp:${RESOLVER}:${OTHER_UDP}`]: 'prohibited',
        [`tcp:${RESOLVER}:${OTHER_TCP}`]: 'refused',
        [`udp:${MIRROR}:53`]: 'prohibited',
        [`tcp:${MIRROR}:53`]: 'refused',
        [`udp:${MIRROR}:123`]: 'prohibited',
        // The mirror, while nothing installs; and its ports at the resolver's address.
        [`tcp:${MIRROR}:80`]: 'refused',
        [`tcp:${MIRROR}:443`]: 'refused',
        [`tcp:${RESOLVER}:80`]: 'refused',
      };
      // Without foobar's firewall every listener answers: what follows is the firewall's doing.
      await expectOutcomes(
        Object.fromEntries(Object.keys(closed).map((spec): [string, Outcome] => [spec, 'open'])),
      );
      const applied = await ensureFirewall(ctx, lb);
      t.diagnostic(`firewall: ${applied}`);
      let before = await refusedCount();
      await expectOutcomes(closed);
      assert.equal((await refusedCount()) - before, refusals(closed), 'each refusal counted');

      // While provisioning installs: the mirror's 80 and 443, there only; each block expiring.
      const open: Record<string, Outcome> = {
        [`tcp:${MIRROR}:80`]: 'open',
        [`tcp:${MIRROR}:443`]: 'open',
        [`tcp:${MIRROR}:${OTHER_TCP}`]: 'refused',
        [`tcp:${RESOLVER}:80`]: 'refused',
        [`tcp:${RESOLVER}:443`]: 'refused',
        [`udp:${RESOLVER}:53`]: 'open',
      };
      before = await refusedCount();
      const listed = await withMirrorsOpen(ctx, 'lb-01', async () => {
        await expectOutcomes(open);
        return (await ctx.driver.exec('lb-01', mirrorSet)).stdout;
      });
      assert.equal((await refusedCount()) - before, refusals(open), 'each refusal counted');
      // apt-get's bound and a minute: 31 min, then the opening closes by itself.
      assert.equal(MIRROR_OPEN_SECONDS, 31 * 60);
      assert.match(listed, new RegExp(`${MIRROR.replaceAll('.', '\\.')} timeout 31m expires`));

      // Closed again after.
      await expectOutcomes({
        [`tcp:${MIRROR}:80`]: 'refused',
        [`tcp:${MIRROR}:443`]: 'refused',
        [`udp:${RESOLVER}:123`]: 'open',
      });
      const after = await ctx.driver.exec('lb-01', mirrorSet);
      assert.doesNotMatch(after.stdout, /elements/);
    });

    it('a later up installs a missing package from the mirror through the opening, and closes it', async (t) => {
      const deb = await makeRepo();
      const on = (argv: readonly string[]) =>
        ctx.driver.exec('lb-01', { argv, timeoutMs: 300_000 }, { check: false });
      // The machine's apt knows the mirror (its lists fetched while it is open), and the package is
      // gone: as on a server whose foobar now runs a daemon more.
      await ctx.driver.writeFile(
        'lb-01',
        '/etc/apt/sources.list',
        `deb [trusted=yes] http://${MIRROR}/ ./\n`,
      );
      await on(['find', '/etc/apt/sources.list.d', '-type', 'f', '-delete']);
      const updated = await withMirrorsOpen(ctx, 'lb-01', () => on(['apt-get', 'update']));
      assert.equal(updated.exitCode, 0, updated.stdout + updated.stderr);
      const purged = await on(['dpkg', '--purge', PACKAGE]);
      assert.equal(purged.exitCode, 0, purged.stderr);
      // With the firewall in force and nothing open, apt-get cannot reach the mirror.
      const refused = await on(['apt-get', 'install', '-y', '--no-install-recommends', PACKAGE]);
      assert.notEqual(refused.exitCode, 0);
      assert.match(refused.stdout + refused.stderr, /Connection refused|Could not connect/);
      fetched.length = 0;
      const started = Date.now();
      const done = await provisionMachine(ctx, 'lb-01');
      t.diagnostic(`provisioned in ${((Date.now() - started) / 1000).toFixed(1)} s: ${done}`);
      assert.match(done, /\b1 packages installed\b/);
      assert.ok(fetched.includes(deb), `the mirror served ${fetched.join(', ')}`);
      const status = await on([
        'dpkg-query',
        '--show',
        '--showformat=${db:Status-Status}',
        PACKAGE,
      ]);
      assert.equal(status.stdout, 'installed');
      // Closed again after: the set is empty, and the mirror refused.
      assert.doesNotMatch((await ctx.driver.exec('lb-01', mirrorSet)).stdout, /elements/);
      await expectOutcomes({ [`tcp:${MIRROR}:80`]: 'refused', [`udp:${RESOLVER}:53`]: 'open' });
    });
  },
);
