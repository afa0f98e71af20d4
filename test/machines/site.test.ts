/**
 * `foobar up` with `platform: machines`, through the CLI, against four booted Debian 12 machines
 * reached over SSH only, each on two bridges (its links `edge` and `core`): both load balancers
 * (with NSD: the site's name servers), both web servers, a primary and a replica (on the web
 * servers' machines), and monitoring (on lb-02). This machine is the operator: .1 on both
 * bridges (admin.edge, and admin.core for the machines without an edge address), and the visitor:
 * dig, curl and the site's API from its edge address, to the booted machines only.
 *   npx tsx --test test/machines/site.test.ts     (root; builds the image the first time)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsDriver } from '../../src/drivers/netns.ts';
import type { ExecResult } from '../../src/drivers/driver.ts';
import { primaryKilledUnderWrites } from './failover.ts';
import { ensureImage, type Image } from './image.ts';
import { Machines, type Machine } from './machines.ts';

const local = new NetnsDriver((host) => {
  throw new Error(`the machines' site test runs commands on this machine only, not in ${host}`);
});
/**
 * Two runs on one machine (engineers, CI) keep apart by FOOBAR_TEST_MACHINES (a short name: its
 * bridges are <name>c and <name>e) and FOOBAR_TEST_MACHINES_NET (two octets: <net>.20 is the core
 * bridge, <net>.21 the edge one).
 */
const NAME = process.env.FOOBAR_TEST_MACHINES ?? 'fbm1';
const NET = process.env.FOOBAR_TEST_MACHINES_NET ?? '10.91';
const CORE = `${NET}.20`;
const EDGE = `${NET}.21`;
const machines = new Machines({
  driver: local,
  stateDir: `/var/lib/foobar/machines-${NAME}`,
  bridge: `${NAME}c`,
  net: CORE,
  edge: { bridge: `${NAME}e`, net: EDGE },
});
const NAMES = ['lb-01', 'lb-02', 'web-01', 'web-02'] as const;
const VIRTUAL = { 'lb-01': `${EDGE}.10`, 'lb-02': `${EDGE}.20` } as const;
const CLI = path.resolve(import.meta.dirname, '../../bin/foobar.ts');
/** A cold image build measured 12.5 min; from the cache, well under a second. */
const IMAGE_TIMEOUT_MS = 40 * 60_000;
/**
 * `up` from scratch measured 7.3 min at a load average of 30 (every step waits on SSH round
 * trips and the daemons' starts): bounded at 3x that.
 */
const UP_TIMEOUT_MS = 25 * 60_000;
/** A second `up` with nothing to do measured 17 s at a load average of 10, 1.6 min at 30. */
const NOOP_UP_BOUND_MS = 6 * 60_000;

let image: Image;
let dir: string;
let config: string;
let planned: Machine[] = [];

function yaml(stateDir: string, sshConfig: string): string {
  const host = (m: Machine, roles: string, edge: boolean): string =>
    `  ${m.name}: { roles: [${roles}], ssh: { host: ${edge ? m.edge : m.address} }, ${edge ? `edge: ${m.edge}, ` : ''}core: ${m.address} }`;
  const [lb1, lb2, web1, web2] = planned as [Machine, Machine, Machine, Machine];
  return [
    'platform: machines',
    'machines:',
    `  name: ${NAME}`,
    `  stateDir: ${stateDir}`,
    `  sshConfig: ${sshConfig}`,
    '  ssh: { user: root, port: 22 }',
    `networks: { edge: { subnet: ${EDGE}.0/24 }, core: { subnet: ${CORE}.0/24 } }`,
    `admin: { edge: ${EDGE}.1, core: ${CORE}.1 }`,
    'hosts:',
    host(lb1, 'lb, dns', true),
    host(lb2, 'lb, dns, mon', true),
    host(web1, 'web, db', false),
    host(web2, 'web, db', false),
    `vrrp: { virtualAddresses: { lb-01: ${VIRTUAL['lb-01']}, lb-02: ${VIRTUAL['lb-02']} } }`,
    '',
  ].join('\n');
}

/** The CLI, as an operator runs it, on this checkout's Node.js. */
async function foobar(args: readonly string[], timeoutMs: number): Promise<ExecResult> {
  return local.exec(
    null,
    { argv: [process.execPath, CLI, '--config', config, ...args], timeoutMs },
    { check: false },
  );
}

function here(argv: readonly string[]): Promise<ExecResult> {
  return local.exec(null, { argv, timeoutMs: 60_000 }, { check: false });
}

function siteFlags(address: string): string[] {
  return [
    '--cacert',
    path.join(dir, 'state/tls/trust.pem'),
    '--resolve',
    `www.foobar.com:443:${address}`,
  ];
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

describe('foobar up on machines', { timeout: IMAGE_TIMEOUT_MS + 3 * UP_TIMEOUT_MS }, () => {
  before(async () => {
    await machines.down();
    image = await ensureImage({ driver: local });
    planned = machines.plan([...NAMES]);
    await machines.up(planned, image);
    dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-machines-site-'));
    const sshConfig = path.join(dir, 'ssh_config');
    writeFileSync(
      sshConfig,
      `Host *\n  IdentityFile ${machines.access.identity}\n  IdentitiesOnly yes\n`,
    );
    config = path.join(dir, 'foobar.yaml');
    writeFileSync(config, yaml(path.join(dir, 'state'), sshConfig));
  });

  after(async () => {
    await machines.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('up from scratch: DNS, both load balancers, a write and its read through the site', async (t) => {
    const started = Date.now();
    const up = await foobar(['up'], UP_TIMEOUT_MS);
    const ms = Date.now() - started;
    assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
    t.diagnostic(`up from scratch: ${seconds(ms)} s`);
    for (const line of up.stdout.split('\n').filter((l) => /^\S/.test(l))) t.diagnostic(line);
    // Each name server answers with both virtual addresses.
    for (const ns of ['lb-01', 'lb-02'] as const) {
      const server = planned.find((m) => m.name === ns)?.edge ?? '';
      const dig = await here([
        'dig',
        '+short',
        '+time=2',
        '+tries=2',
        `@${server}`,
        'www.foobar.com',
      ]);
      assert.equal(dig.exitCode, 0, dig.stderr);
      assert.deepEqual(dig.stdout.trim().split('\n').sort(), Object.values(VIRTUAL).sort(), ns);
    }
    // HTTPS through each load balancer's virtual address, with the site's CA.
    const servedBy = new Set<string>();
    for (const address of Object.values(VIRTUAL)) {
      for (let i = 0; i < 4; i++) {
        const page = await here([
          'curl',
          '-sS',
          '--fail',
          '--max-time',
          '10',
          ...siteFlags(address),
          'https://www.foobar.com/api/whoami',
        ]);
        assert.equal(page.exitCode, 0, `${address}: ${page.stderr}`);
        servedBy.add((JSON.parse(page.stdout) as { server: string }).server);
      }
    }
    assert.deepEqual([...servedBy].sort(), ['web-01', 'web-02']);
    // A write through lb-01, read back through lb-02 with the writer's cookie.
    const jar = path.join(dir, 'cookies');
    const text = `hello from the machines ${Date.now()}`;
    const created = await here([
      'curl',
      '-sS',
      '--fail',
      '--max-time',
      '10',
      '-c',
      jar,
      ...siteFlags(VIRTUAL['lb-01']),
      '-H',
      'content-type: application/json',
      '--data',
      JSON.stringify({ text }),
      'https://www.foobar.com/api/messages',
    ]);
    assert.equal(created.exitCode, 0, created.stderr);
    const message = JSON.parse(created.stdout) as { id: number; text: string; db: string };
    assert.equal(message.text, text);
    assert.equal(message.db, 'web-01', 'the primary took the write');
    const read = await here([
      'curl',
      '-sS',
      '--fail',
      '--max-time',
      '10',
      '-b',
      jar,
      ...siteFlags(VIRTUAL['lb-02']),
      'https://www.foobar.com/api/messages',
    ]);
    assert.equal(read.exitCode, 0, read.stderr);
    assert.ok(read.stdout.includes(text), `the message read back: ${read.stdout.slice(0, 300)}`);
  });

  it('a second up has nothing to do and says so, quickly', async (t) => {
    const started = Date.now();
    const up = await foobar(['up'], UP_TIMEOUT_MS);
    const ms = Date.now() - started;
    assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
    t.diagnostic(`second up: ${seconds(ms)} s`);
    const done = up.stdout
      .split('\n')
      .filter((line) => /^\s+✔/.test(line))
      .filter((line) => !/up to date|reachable over SSH|all up|held by their owners/.test(line));
    assert.deepEqual(done, [], 'every step says up to date');
    assert.ok(ms < NOOP_UP_BOUND_MS, `${seconds(ms)} s`);
  });

  it('status exits 0', async (t) => {
    const started = Date.now();
    const status = await foobar(['status'], 5 * 60_000);
    t.diagnostic(`status: ${seconds(Date.now() - started)} s`);
    assert.equal(status.exitCode, 0, `${status.stdout}\n${status.stderr}`);
  });

  it('the primary’s MariaDB killed under writers: promoted with nobody at the keyboard, no acknowledged write lost', async (t) => {
    const writesBackMs = await primaryKilledUnderWrites(
      t,
      {
        local,
        config,
        dir,
        virtual: Object.values(VIRTUAL),
        trust: path.join(dir, 'state/tls/trust.pem'),
        foobar,
      },
      2,
    );
    t.diagnostic(`kill → first write on the new primary: ${seconds(writesBackMs)} s`);
  });

  it('down stops the site; the machines come down leaving nothing on this machine', async () => {
    const down = await foobar(['down'], 10 * 60_000);
    assert.equal(down.exitCode, 0, `${down.stdout}\n${down.stderr}`);
    const page = await here([
      'curl',
      '-sS',
      '--max-time',
      '3',
      ...siteFlags(VIRTUAL['lb-01']),
      'https://www.foobar.com/api/whoami',
    ]);
    assert.notEqual(page.exitCode, 0, 'the site is down');
    const booted = machines.list();
    await machines.down();
    assert.deepEqual(await machines.leftovers(booted), []);
  });
});
