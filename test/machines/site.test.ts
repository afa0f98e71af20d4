/**
 * `foobar up` with `platform: machines`, through the CLI, against four booted Debian 12 machines
 * reached over SSH only, each on two bridges (its links `edge` and `core`): both load balancers
 * (with NSD: the site's name servers), both web servers, a primary and a replica (on the web
 * servers' machines), and monitoring (on lb-02). This machine is the operator: .1 on both
 * bridges (admin.edge, and admin.core for the machines without an edge address), and the visitor:
 * dig, curl and the site's API from its edge address, to the booted machines only. In order: `up`
 * from scratch, a second `up`, `status`, `db backups`, `db restore --at` onto the scratch server and
 * `--to` the replica (then `rejoin`), `secrets rotate` under visitors, `up --plan`, the reachability
 * matrix, a deploy under load, `db promote --force` and `rejoin`, a reboot of web-01 (the replica),
 * a reboot of the primary's machine, the primary's MariaDB killed and its machine silenced under
 * writers, the site's certificate from Pebble (this machine, the internet's CA: ordered, renewed,
 * kept through lb-01's reboot, then the site's own CA again), `down`: each test starts from the
 * site the ones before left.
 *   npx tsx --test test/machines/site.test.ts     (root; builds the image the first time)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { haproxy } from '../../src/commands/haproxy.ts';
import { NetnsDriver } from '../../src/drivers/netns.ts';
import type { ExecResult } from '../../src/drivers/driver.ts';
import { closeSshDrivers } from '../../src/drivers/ssh.ts';
import { sleep, waitFor } from '../../src/lib/wait.ts';
import { summarizeVisits, type VisitorsReport, type VisitSummary } from '../../src/load/visits.ts';
import { dbSecretName } from '../../src/model/database.ts';
import { hostPaths, MACHINE_PATHS, runtimeOf } from '../../src/model/layout.ts';
import { loadModel } from '../../src/model/load.ts';
import { readAudit, type AuditEntry } from '../../src/steps/audit.ts';
import { createContext, type Context } from '../../src/steps/context.ts';
import type { BackupCatalog, RestoreReport } from '../../src/steps/backup.ts';
import type { ChangeReport } from '../../src/steps/db/changes.ts';
import type { HostRestoreReport } from '../../src/steps/db/restore.ts';
import { readDbState } from '../../src/steps/db/state.ts';
import type { DbStatus } from '../../src/steps/db/status.ts';
import type { DrillReport } from '../../src/drill/run.ts';
import { ROTATABLE } from '../../src/steps/secrets.ts';
import { daemonsDir } from '../../src/release/daemons.ts';
import { appVariant, removeAppVariants } from '../support/apps.ts';
import { rootClient } from '../support/db.ts';
import { checkMatrix, type MatrixResult } from '../support/matrix.ts';
import { runPebble, type Pebble } from '../support/pebble.ts';
import { haproxyFiles } from '../../src/render/haproxy/index.ts';
import { nginxFiles } from '../../src/render/nginx/index.ts';
import { systemctl } from '../../src/commands/systemctl.ts';
import { REQUEST_LOG_RATE_LIMIT } from '../../src/render/systemd/index.ts';
import {
  JOURNALD_FILE,
  LOG_CHECK_SECONDS,
  LOGROTATE_UNIT,
  renderJournald,
} from '../../src/render/logging/index.ts';
import {
  primaryKilledUnderWrites,
  primarySilencedUnderWrites,
  rejoinAsOperator,
  type MachinesSite,
} from './failover.ts';
import { ensureImage, type Image } from './image.ts';
import { machinesOfRun, type Machine } from './machines.ts';

const local = new NetnsDriver((host) => {
  throw new Error(`the machines' site test runs commands on this machine only, not in ${host}`);
});
const {
  name: NAME,
  core: CORE,
  edge: EDGE,
  machines,
} = machinesOfRun(local, { name: 'fbm1', net: '10.91' });
const NAMES = ['lb-01', 'lb-02', 'web-01', 'web-02'] as const;
const VIRTUAL = { 'lb-01': `${EDGE}.10`, 'lb-02': `${EDGE}.20` } as const;
const CLI = path.resolve(import.meta.dirname, '../../bin/foobar.js');
/** A cold image build measured 12.5 min; from the cache, well under a second. */
const IMAGE_TIMEOUT_MS = 40 * 60_000;
/**
 * `up` from scratch measured 7.3 min at a load average of 30 (every step waits on SSH round
 * trips and the daemons' starts): bounded at 3x that.
 */
const UP_TIMEOUT_MS = 25 * 60_000;
/** A second `up` with nothing to do measured 17 s at a load average of 10, 1.6 min at 30. */
const NOOP_UP_BOUND_MS = 6 * 60_000;

/** The matrix measured 2.5 s in the lab; here every source starts Node.js over SSH. */
const MATRIX_BOUND_S = 120;
/** Visitors give up on a request after this long (a failed request). */
const VISIT_TIMEOUT_MS = 20_000;
/** A rebooted machine back in the site by itself: SSH, MariaDB replicating, the app serving. */
const WHOLE_AGAIN_BOUND_MS = 5 * 60_000;
const REPO = path.resolve(import.meta.dirname, '../..');
/** The backup agent follows a new primary at its next tick (1 s) and seals at most every 10 s. */
const ARCHIVE_BOUND_MS = 3 * 60_000;

let image: Image;
let dir: string;
let config: string;
let planned: Machine[] = [];
/** The site's model and a driver to its machines, for what the tests ask the machines directly. */
let site: Context | undefined;

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
    // No route out (every package is in the image); test/machines/outside.test.ts opens these.
    '  resolvers: []',
    '  timeServers: []',
    '  mirrors: []',
    `networks: { edge: { subnet: ${EDGE}.0/24 }, core: { subnet: ${CORE}.0/24 } }`,
    `admin: { edge: ${EDGE}.1, core: ${CORE}.1 }`,
    'hosts:',
    // Backups on an existing machine with a disk: the agent reads database.json on lb-02 (the
    // monitor) and starts full backups on the replica, over SSH with its own key.
    host(lb1, 'lb, dns, backup', true),
    host(lb2, 'lb, dns, mon', true),
    host(web1, 'web, db', false),
    host(web2, 'web, db', false),
    `vrrp: { virtualAddresses: { lb-01: ${VIRTUAL['lb-01']}, lb-02: ${VIRTUAL['lb-02']} } }`,
    '',
  ].join('\n');
}

/** This file's own temporary directory (its SSH drivers' control directories), and the one before. */
const ownTmp = (): string => path.join(dir, 'tmp-test');
let tmpBefore: string | undefined;

/** SSH control directories a CLI run left in its own TMPDIR: it must close its connections. */
const sshLeftovers: string[] = [];

/** The CLI, as an operator runs it, on this checkout's Node.js, with a temporary directory of its own. */
async function foobar(
  args: readonly string[],
  timeoutMs: number,
  configFile = config,
): Promise<ExecResult> {
  const tmp = path.join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const result = await local.exec(
    null,
    {
      argv: ['env', `TMPDIR=${tmp}`, process.execPath, CLI, '--config', configFile, ...args],
      timeoutMs,
    },
    { check: false },
  );
  for (const name of readdirSync(tmp).filter((n) => n.startsWith('foobar-ssh-'))) {
    sshLeftovers.push(`foobar ${args.join(' ')}: ${name}`);
    rmSync(path.join(tmp, name), { recursive: true, force: true });
  }
  return result;
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

/** The load average now, for figures measured on a shared machine. */
function load(): string {
  return `load ${os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(' ')}`;
}

function siteContext(): Context {
  site ??= createContext(loadModel(config));
  return site;
}

/** journald's RateLimitBurst by default (journald.conf(5)): lines a unit may log in 30 s. */
const JOURNALD_DEFAULT_BURST = 10_000;

/** A load balancer's HAProxy lines since `since` (epoch seconds), by second: "count second" pairs. */
function haproxyLinesBySecond(since: number): string {
  return `journalctl -u haproxy.service --since @${since} -o short-unix | grep ' www~ ' | cut -d. -f1 | uniq -c`;
}

/** SQL as foobar's admin on a database machine (its own client, over SSH): a header row, then rows. */
async function sqlOn(host: string, statement: string): Promise<string[][]> {
  const result = await siteContext().driver.exec(
    host,
    {
      argv: ['mariadb', '--defaults-file=/etc/foobar/admin.cnf', '--batch', '-e', statement],
      timeoutMs: 30_000,
    },
    { check: false },
  );
  if (result.exitCode !== 0) throw new Error(`${host}: ${statement}: ${result.stderr.trim()}`);
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

/** Undefined when `host` replicates (both threads running), else what its replica status says. */
async function replicating(host: string): Promise<string | undefined> {
  try {
    const [names = [], values = []] = await sqlOn(host, 'SHOW SLAVE STATUS');
    const field = (name: string): string => values[names.indexOf(name)] ?? '';
    const io = field('Slave_IO_Running');
    const sql = field('Slave_SQL_Running');
    return io === 'Yes' && sql === 'Yes'
      ? undefined
      : `${host}: replication IO ${io || 'none'}, SQL ${sql || 'none'} ${field('Last_IO_Error')} ${field('Last_SQL_Error')}`;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Writes a message through the site, at a load balancer's virtual address (curl `extra` flags). */
function postMessage(
  address: string,
  text: string,
  extra: readonly string[] = [],
): Promise<ExecResult> {
  return here([
    'curl',
    '-sS',
    '--fail',
    '--max-time',
    '10',
    ...extra,
    ...siteFlags(address),
    '-H',
    'content-type: application/json',
    '--data',
    JSON.stringify({ text }),
    'https://www.foobar.com/api/messages',
  ]);
}

/** A message written through the site (lb-01's virtual address): which database server took it. */
async function write(text: string): Promise<{ exitCode: number; db?: string; stderr: string }> {
  const created = await postMessage(VIRTUAL['lb-01'], text);
  if (created.exitCode !== 0) return { exitCode: created.exitCode, stderr: created.stderr };
  const { db } = JSON.parse(created.stdout) as { db: string };
  return { exitCode: 0, db, stderr: '' };
}

/** The web servers that answered /api/whoami through both virtual addresses (a new connection each). */
async function servingWebServers(tries = 4): Promise<string[]> {
  const servedBy = new Set<string>();
  for (const address of Object.values(VIRTUAL)) {
    for (let i = 0; i < tries; i++) {
      const page = await here([
        'curl',
        '-sS',
        '--fail',
        '--max-time',
        '5',
        ...siteFlags(address),
        'https://www.foobar.com/api/whoami',
      ]);
      if (page.exitCode === 0) servedBy.add((JSON.parse(page.stdout) as { server: string }).server);
    }
  }
  return [...servedBy].sort();
}

/** The scratch restore's moment, between two writes: the restore --to test restores it again. */
let moment: { readonly at: Date; readonly before: string; readonly after: string } | undefined;

/** The mariadb client as root on a restored server's socket, on its machine. */
function rootSqlOn(host: string, socket: string, statement: string): Promise<ExecResult> {
  return siteContext().driver.exec(
    host,
    { argv: rootClient(socket, statement), timeoutMs: 30_000 },
    { check: false },
  );
}

/** Which of `texts` are messages on a restored server (the scratch one, or one restored --to). */
async function restoredTexts(
  host: string,
  socket: string,
  texts: readonly string[],
): Promise<string[]> {
  const rows = await rootSqlOn(
    host,
    socket,
    `SELECT text FROM ${siteContext().model.database.schema}.messages WHERE text IN (${texts.map((text) => `'${text}'`).join(', ')}) ORDER BY id`,
  );
  assert.equal(rows.exitCode, 0, `${host}: ${rows.stderr}`);
  return rows.stdout.split('\n').filter(Boolean);
}

/** Waits (bounded) until every one of `texts` is a message on `host`'s server (replicated there). */
async function messagesReach(host: string, texts: readonly string[]): Promise<void> {
  const schema = siteContext().model.database.schema;
  await waitFor(
    `${texts.length} writes on ${host}`,
    async () => {
      const rows = await sqlOn(
        host,
        `SELECT COUNT(*) AS n FROM ${schema}.messages WHERE text IN (${texts.map((text) => `'${text}'`).join(', ')})`,
      );
      return rows[1]?.[0] === String(texts.length)
        ? undefined
        : `${rows[1]?.[0] ?? '0'} of ${texts.length}`;
    },
    { timeoutMs: 30_000, intervalMs: 200, maxIntervalMs: 1000 },
  );
}

/**
 * Browsing visitors from this machine while `work` runs, on new connections, each looking the name
 * up at the site's name servers: a page, its assets and a guestbook write per visit, at most one
 * visit a second each (well within the per-client rate limit: this machine is one client). They
 * come first, and leave once `work` is over (or failed). Bounded: 10 minutes at most.
 */
async function visitorsDuring<T>(
  prefix: string,
  work: () => Promise<T>,
): Promise<{ result: T; summary: VisitSummary; kinds: string }> {
  const stopFile = path.join(dir, `${prefix}.stop`);
  const readyFile = path.join(dir, `${prefix}.ready`);
  const nameServers = ['lb-01', 'lb-02'].map((n) => planned.find((m) => m.name === n)?.edge ?? '');
  const visitors = local.exec(
    null,
    {
      argv: [
        process.execPath,
        path.join(REPO, 'src/load/visitors.ts'),
        '--url',
        'https://www.foobar.com/',
        '--cacert',
        path.join(dir, 'state/tls/trust.pem'),
        '--dns',
        nameServers.join(','),
        '--fresh',
        '--browse',
        '--concurrency',
        '2',
        '--interval-ms',
        '1000',
        '--timeout-ms',
        String(VISIT_TIMEOUT_MS),
        '--seconds',
        '600',
        '--prefix',
        prefix,
        '--stop-file',
        stopFile,
        '--ready-file',
        readyFile,
      ],
      timeoutMs: 600_000 + VISIT_TIMEOUT_MS + 60_000,
    },
    { check: false },
  );
  const done = (async (): Promise<T> => {
    await waitFor(
      'the visitors’ first page',
      () => Promise.resolve(existsSync(readyFile) ? undefined : 'none yet'),
      { timeoutMs: 60_000, intervalMs: 100, maxIntervalMs: 500 },
    );
    return work();
  })();
  const [result, visited] = await Promise.all([
    done.finally(() => {
      writeFileSync(stopFile, '');
    }),
    visitors,
  ]);
  assert.equal(visited.exitCode, 0, visited.stderr);
  const summary = summarizeVisits(JSON.parse(visited.stdout) as VisitorsReport);
  const kinds = Object.entries(summary.kinds)
    .filter(([, k]) => k.requests > 0)
    .map(([kind, k]) => `${kind} ${k.ok}/${k.requests}`)
    .join(', ');
  return { result, summary, kinds };
}

/** The deploy test's visitors: from when (seconds since the epoch, a minute early), how many requests. */
const visited = { since: 0, requests: 0 };
/** Where foobar's daemons write their own log files on a machine. */
const MACHINE_LOGS = MACHINE_PATHS.log;

/** When the promote test's promotion returned. */
let promotedAt = 0;

/**
 * Waits (bounded) until the backup agent follows `primary`'s binary log and the archive reaches
 * the moment `since` (a write acknowledged then is recoverable), as `foobar db backups` says.
 */
async function archiveFollows(
  primary: string,
  since: number,
): Promise<{ ms: number; sincePromotionMs: number }> {
  await waitFor(
    `the archive following ${primary} past ${new Date(since).toISOString()}`,
    async () => {
      const listed = await foobar(['db', 'backups', '--json'], 2 * 60_000);
      if (listed.exitCode !== 0) return listed.stderr.trim();
      const { status } = JSON.parse(listed.stdout) as BackupCatalog;
      const reached =
        status.following === primary &&
        status.recoverableAt !== undefined &&
        Date.parse(status.recoverableAt) >= since;
      return reached ? undefined : JSON.stringify(status);
    },
    { timeoutMs: ARCHIVE_BOUND_MS, intervalMs: 1000, maxIntervalMs: 2000 },
  );
  return { ms: Date.now() - since, sincePromotionMs: since - promotedAt };
}

/**
 * Pebble's certificates live an hour here: no `up` of the ACME tests reissues on its own (a
 * no-op `up` on machines measured 1.6 min at a load average of 30); renewal is asked for by a
 * `renewBeforeSeconds` longer than that.
 */
const ACME_VALIDITY_SECONDS = 3600;
/** Pebble on this machine, and the site's config with `tls.acme` pointing at it. */
let pebble: Pebble | undefined;
let acmeConfig: string | undefined;
/** The certificate Pebble issued for the site. */
let acmeIssued: X509Certificate | undefined;

/** foobar.yaml with `tls.acme` (Pebble's directory, its HTTPS certificate and roots) added. */
function withAcme(ca: Pebble, renewBeforeSeconds?: number): string {
  const file = path.join(
    dir,
    `foobar-acme${renewBeforeSeconds === undefined ? '' : '-renew'}.yaml`,
  );
  const acme = [
    `directory: ${ca.directory}`,
    'email: ops@foobar.com',
    `caBundle: ${ca.caBundle}`,
    `roots: ${ca.roots}`,
    ...(renewBeforeSeconds === undefined ? [] : [`renewBeforeSeconds: ${renewBeforeSeconds}`]),
  ].join(', ');
  writeFileSync(file, `${readFileSync(config, 'utf8')}tls: { acme: { ${acme} } }\n`);
  return file;
}

/** The certificate `address` presents for www.foobar.com (a load balancer's own or virtual address). */
async function presented(address: string): Promise<X509Certificate> {
  const result = await here([
    'openssl',
    's_client',
    '-connect',
    `${address}:443`,
    '-servername',
    'www.foobar.com',
  ]);
  const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(result.stdout);
  assert.ok(pem, `${address} presented no certificate:\n${result.stderr}`);
  return new X509Certificate(pem[0]);
}

/** curl trusting Pebble's root only, through `address`: status and verify result. */
async function fetchTrustingPebble(ca: Pebble, address: string): Promise<string> {
  const result = await here([
    'curl',
    '-sS',
    '--max-time',
    '10',
    '--cacert',
    ca.roots,
    '--resolve',
    `www.foobar.com:443:${address}`,
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{ssl_verify_result}',
    'https://www.foobar.com/',
  ]);
  assert.equal(result.exitCode, 0, `${address}: ${result.stderr}`);
  return result.stdout;
}

/** Each load balancer's HAProxy worker (its runtime API's `show info`): the same PID, no reload. */
async function haproxyWorkers(): Promise<Record<string, string>> {
  const ctx = siteContext();
  const workers: Record<string, string> = {};
  for (const lb of ['lb-01', 'lb-02']) {
    const info = await ctx.driver.exec(
      lb,
      haproxy.runtime(haproxyFiles(hostPaths(ctx.model, lb)).socket, 'show info'),
    );
    const pid = /^Pid: (\d+)$/m.exec(info.stdout)?.[1];
    assert.ok(pid !== undefined, `${lb}: show info names no Pid:\n${info.stdout}`);
    workers[lb] = pid;
  }
  return workers;
}

/** Both load balancers' own edge addresses and both virtual addresses. */
function lbAddresses(): string[] {
  return [
    ...['lb-01', 'lb-02'].map((n) => planned.find((m) => m.name === n)?.edge ?? ''),
    ...Object.values(VIRTUAL),
  ];
}

/** The site as the failover scenarios drive it (test/machines/failover.ts). */
function machinesSite(): MachinesSite {
  return {
    local,
    config,
    dir,
    virtual: Object.values(VIRTUAL),
    trust: path.join(dir, 'state/tls/trust.pem'),
    foobar,
  };
}

/** The reachability matrix, run from the machines themselves and from this machine (the admin). */
async function matrixHolds(t: TestContext): Promise<MatrixResult> {
  const ctx = siteContext();
  const reach = readFileSync(path.join(REPO, 'test/support/reach.ts'), 'utf8');
  const remote = '/tmp/foobar-test-reach.ts';
  const hosts = ctx.model.hosts.map((h) => h.name);
  await Promise.all(hosts.map((host) => ctx.driver.writeFile(host, remote, reach, 0o644)));
  try {
    return await checkMatrix(
      {
        ctx,
        // On a machine with the runtime foobar shipped for the app; the admin's from here.
        reach: (host, args) =>
          host === null
            ? local.exec(
                null,
                {
                  argv: [process.execPath, path.join(REPO, 'test/support/reach.ts'), ...args],
                  timeoutMs: 60_000,
                },
                { check: false },
              )
            : ctx.driver.exec(
                host,
                { argv: [runtimeOf(ctx.model), remote, ...args], timeoutMs: 60_000 },
                { check: false },
              ),
      },
      t,
      MATRIX_BOUND_S,
    );
  } finally {
    await Promise.all(hosts.map((host) => ctx.driver.remove(host, remote)));
  }
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
    // The SSH drivers this file makes put their control directories here, not in the /tmp that
    // other runs share: what is left in it at the end is this file's, and a failure.
    mkdirSync(ownTmp(), { recursive: true });
    tmpBefore = process.env.TMPDIR;
    process.env.TMPDIR = ownTmp();
  });

  after(async () => {
    // Every SSH driver this file made (its own context, the failover scenarios'): their master
    // connections end and their /tmp/foobar-ssh-* directories go, as the CLI's do.
    await closeSshDrivers();
    if (tmpBefore === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpBefore;
    const left = readdirSync(ownTmp()).filter((n) => n.startsWith('foobar-ssh-'));
    await pebble?.stop();
    await machines.down();
    removeAppVariants();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'the SSH drivers the test made closed their connections');
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
    const created = await postMessage(VIRTUAL['lb-01'], text, ['-c', jar]);
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
    t.diagnostic(`second up: ${seconds(ms)} s (${load()})`);
    // Its phases, tasks and slowest, as the CLI prints them: where a no-op spends its time.
    for (const line of up.stdout.split('\n').filter((l) => /^\S|^\s+✔ /.test(l)))
      t.diagnostic(line);
    const done = up.stdout
      .split('\n')
      .filter((line) => /^\s+✔/.test(line))
      .filter(
        (line) =>
          !/up to date|reachable over SSH|all up|all evaluated|held by their owners/.test(line),
      );
    assert.deepEqual(done, [], 'every step says up to date');
    assert.ok(ms < NOOP_UP_BOUND_MS, `${seconds(ms)} s`);
  });

  it("an up that copies foobar's daemons to a machine removes the superseded builds there, keeping the one before", async () => {
    const ctx = siteContext();
    const dir = daemonsDir(ctx.model);
    const root = path.dirname(dir);
    const onWeb = (argv: readonly string[]): Promise<ExecResult> =>
      ctx.driver.exec('web-01', { argv, timeoutMs: 30_000 }, { check: false });
    // Two builds of earlier foobars, the older first; and the current copy damaged, so that up
    // copies it again (as it does a new key's).
    for (const [id, when] of [
      ['aaaaaaaaaaaa', '2026-01-01'],
      ['bbbbbbbbbbbb', '2026-02-01'],
    ] as const) {
      const made = await onWeb([
        'sh',
        '-c',
        `mkdir -p ${root}/${id} && touch ${root}/${id}/backup.mjs && touch -d ${when} ${root}/${id}`,
      ]);
      assert.equal(made.exitCode, 0, made.stderr);
    }
    assert.equal((await onWeb(['rm', `${dir}/log-rotator.mjs`])).exitCode, 0);
    const up = await foobar(['up'], UP_TIMEOUT_MS);
    assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
    const left = await onWeb(['ls', '-1', root]);
    assert.deepEqual(
      left.stdout.trim().split('\n').sort(),
      [path.basename(dir), 'bbbbbbbbbbbb'].sort(),
    );
    const copy = await onWeb(['ls', '-1', dir]);
    assert.match(copy.stdout, /^log-rotator\.mjs$/m, 'the current copy whole again');
  });

  it('status exits 0', async (t) => {
    const started = Date.now();
    const status = await foobar(['status'], 5 * 60_000);
    t.diagnostic(`status: ${seconds(Date.now() - started)} s`);
    assert.equal(status.exitCode, 0, `${status.stdout}\n${status.stderr}`);
  });

  it('db backups lists the full backup up took from the replica, and the archive follows the primary', async (t) => {
    const started = Date.now();
    const listed = await foobar(['db', 'backups', '--json'], 5 * 60_000);
    t.diagnostic(`db backups: ${seconds(Date.now() - started)} s (${load()})`);
    assert.equal(listed.exitCode, 0, `${listed.stdout}\n${listed.stderr}`);
    const catalog = JSON.parse(listed.stdout) as BackupCatalog;
    assert.ok(
      catalog.backups.some((b) => b.source === 'web-02'),
      `a full backup from the replica web-02: ${listed.stdout.slice(0, 600)}`,
    );
    assert.equal(catalog.status.following, 'web-01', JSON.stringify(catalog.status));
    assert.notEqual(catalog.status.recoverableAt, undefined, JSON.stringify(catalog.status));
    // The agent's unit, as systemd on lb-01 reads it, and what its process may write: its own
    // directories, not the rest of /var/lib/foobar (asked in its own mount namespace).
    const unit = 'foobar-backup-agent.service';
    const on = (argv: string[]): Promise<ExecResult> =>
      siteContext().driver.exec('lb-01', { argv, timeoutMs: 30_000 }, { check: false });
    const verify = await on(['systemd-analyze', 'verify', unit]);
    assert.equal(verify.exitCode, 0, `systemd-analyze verify ${unit}: ${verify.stderr}`);
    const pid = (await on(['systemctl', 'show', '-p', 'MainPID', '--value', unit])).stdout.trim();
    assert.match(pid, /^[1-9]\d*$/, `${unit} runs`);
    const touch = (file: string): Promise<ExecResult> =>
      on(['nsenter', '-t', pid, '-m', 'sh', '-c', `touch ${file} && rm ${file}`]);
    const own = await touch('/var/lib/foobar/backup-status/.foobar-test-writable');
    assert.equal(own.exitCode, 0, `the agent writes its status directory: ${own.stderr}`);
    const beside = await touch('/var/lib/foobar/.foobar-test-writable');
    assert.notEqual(beside.exitCode, 0, 'the agent may not write /var/lib/foobar itself');
    assert.match(beside.stderr, /Read-only file system/);
  });

  it('db restore --at a moment, onto a scratch server on the backup machine: the write before it is there, the one after is not', async (t) => {
    const stamp = Date.now();
    const before = `before the moment ${stamp}`;
    const after = `after the moment ${stamp}`;
    assert.equal((await write(before)).exitCode, 0);
    // A time target is to the second: the moment falls in a later second than the first write.
    await sleep(1500);
    const moment0 = new Date();
    await sleep(1100);
    assert.equal((await write(after)).exitCode, 0);
    await archiveFollows('web-01', Date.now());
    const started = Date.now();
    const restore = await foobar(
      ['db', 'restore', '--at', moment0.toISOString(), '--json'],
      10 * 60_000,
    );
    assert.equal(restore.exitCode, 0, `${restore.stdout}\n${restore.stderr}`);
    const report = JSON.parse(restore.stdout) as RestoreReport;
    assert.deepEqual(await restoredTexts('lb-01', report.socket, [before, after]), [before]);
    moment = { at: moment0, before, after };
    t.diagnostic(
      `restore onto lb-01's scratch server: ${seconds(Date.now() - started)} s (RTO ${report.seconds.toFixed(1)} s: ${report.steps.map((s) => `${s.step} ${s.seconds.toFixed(1)} s`).join('; ')}) (${load()})`,
    );
    const discard = await foobar(['db', 'restore', '--discard'], 5 * 60_000);
    assert.equal(discard.exitCode, 0, `${discard.stdout}\n${discard.stderr}`);
  });

  it('db restore --at the same moment --to the replica web-02: the write before it is there, the one after is not, it replicates from no one; db rejoin makes it a replica again', async (t) => {
    assert.ok(moment !== undefined, 'the scratch restore wrote around its moment');
    const { at, before, after } = moment;
    let started = Date.now();
    const restore = await foobar(
      ['db', 'restore', '--at', at.toISOString(), '--to', 'web-02', '--json'],
      10 * 60_000,
    );
    const restoreMs = Date.now() - started;
    assert.equal(restore.exitCode, 0, `${restore.stdout}\n${restore.stderr}`);
    const report = JSON.parse(restore.stdout) as HostRestoreReport;
    assert.equal(report.to, 'web-02');
    assert.deepEqual(await restoredTexts('web-02', report.socket, [before, after]), [before]);
    // A copy at the moment, replicating from no one, and shown so; its old data kept aside.
    const slave = await rootSqlOn('web-02', report.socket, 'SHOW SLAVE STATUS');
    assert.equal(slave.exitCode, 0, slave.stderr);
    assert.equal(slave.stdout.trim(), '', 'not replicating');
    assert.ok(report.aside !== null, 'the old data directory was kept');
    const aside = await siteContext().driver.exec(
      'web-02',
      { argv: ['test', '-d', `${report.aside}/mysql`], timeoutMs: 30_000 },
      { check: false },
    );
    assert.equal(aside.exitCode, 0, `${report.aside} holds the old data`);
    const shown = await foobar(['db', 'status', '--json'], 2 * 60_000);
    const status = JSON.parse(shown.stdout) as DbStatus;
    assert.deepEqual(
      status.restored.map((r) => r.name),
      ['web-02'],
    );
    // The site takes writes meanwhile, on the primary, with its only replica out.
    const writeStarted = Date.now();
    const meanwhile = `while web-02 is restored ${Date.now()}`;
    const written = await write(meanwhile);
    const writeMs = Date.now() - writeStarted;
    assert.equal(written.exitCode, 0, written.stderr);
    assert.equal(written.db, 'web-01');
    // db rejoin makes it a replica again, with what was written after the moment.
    started = Date.now();
    const rejoin = await foobar(['db', 'rejoin', 'web-02', '--json'], 5 * 60_000);
    assert.equal(rejoin.exitCode, 0, `${rejoin.stdout}\n${rejoin.stderr}`);
    await waitFor('web-02 replicating', () => replicating('web-02'), {
      timeoutMs: 30_000,
      intervalMs: 200,
      maxIntervalMs: 1000,
    });
    const rejoinMs = Date.now() - started;
    await messagesReach('web-02', [before, after, meanwhile]);
    const back = JSON.parse(
      (await foobar(['db', 'status', '--json'], 2 * 60_000)).stdout,
    ) as DbStatus;
    assert.deepEqual(back.restored, []);
    const discard = await foobar(['db', 'restore', '--discard'], 5 * 60_000);
    assert.equal(discard.exitCode, 0, `${discard.stdout}\n${discard.stderr}`);
    t.diagnostic(
      `restore --to web-02: ${seconds(restoreMs)} s (RTO ${report.seconds.toFixed(1)} s: ${report.steps.map((s) => `${s.step} ${s.seconds.toFixed(1)} s`).join('; ')}); a write meanwhile ${seconds(writeMs)} s; rejoin to replicating ${seconds(rejoinMs)} s (${load()})`,
    );
  });

  it('drill backup:restore: the newest backup and the archive restored to the scratch server equal a replica held at that GTID, table by table; RTO and RPO printed', async (t) => {
    // A drill starts from a healthy site only. The rejoin before this test leaves semi-sync off
    // (SemiSyncFellBackToAsync firing) until the replica acknowledges a commit: a write, then
    // foobar status says healthy (it failed so in CI when the drill came at once).
    const written = await write(`before the drill ${Date.now()}`);
    assert.equal(written.exitCode, 0, written.stderr);
    await waitFor(
      'the site healthy (foobar status exits 0)',
      async () => {
        const status = await foobar(['status'], 2 * 60_000);
        return status.exitCode === 0 ? undefined : status.stdout.slice(-600);
      },
      { timeoutMs: 3 * 60_000, intervalMs: 2000, maxIntervalMs: 5000 },
    );
    const started = Date.now();
    const drill = await foobar(['drill', 'backup:restore', '--json'], 10 * 60_000);
    const ms = Date.now() - started;
    assert.equal(drill.exitCode, 0, `${drill.stdout}\n${drill.stderr}`);
    const report = JSON.parse(drill.stdout) as DrillReport;
    const check = report.restore;
    assert.ok(check !== undefined, drill.stdout);
    assert.equal(check.passed, true, JSON.stringify(check));
    assert.equal(check.heldOn, 'web-02', 'a replica was held, not the primary');
    const messages = check.live.find((f) => f.table === 'messages');
    assert.ok(messages !== undefined && messages.rows > 0, JSON.stringify(check.live));
    assert.deepEqual(check.restored, check.live);
    t.diagnostic(
      `drill backup:restore: ${seconds(ms)} s; at ${check.gtid} held on ${check.heldOn}, ${check.live.length} tables (messages ${messages.rows} rows) equal; RTO ${check.rtoSeconds.toFixed(1)} s, RPO ${check.rpoSeconds.toFixed(1)} s (${load()})`,
    );
    // The faults are the lab's: on machines the drill says so, lists none, and changes nothing.
    const faults = await foobar(['drill', 'web-01:app-killed', '--seconds', '2'], 5 * 60_000);
    assert.equal(faults.exitCode, 64, `${faults.stdout}\n${faults.stderr}`);
    assert.match(faults.stderr, /on machines foobar drill runs backup:restore only/);
    const listed = await foobar(['drill', '--list'], 60_000);
    assert.equal(listed.exitCode, 0, listed.stderr);
    assert.deepEqual(
      listed.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/)[0]),
      ['backup:restore'],
    );
  });

  it('secrets rotate: every database password changed while visitors browse and write, 0 failed, none printed; the backup agent logs in with its new one', async (t) => {
    const ctx = siteContext();
    const secret = (name: string): string => readFileSync(ctx.secrets.pathOf(name), 'utf8').trim();
    const names = ROTATABLE.map(dbSecretName);
    const old = new Map(names.map((name) => [name, secret(name)]));
    const { result, summary, kinds } = await visitorsDuring(`mrotate${Date.now()}`, async () => {
      const started = Date.now();
      const rotated = await foobar(['secrets', 'rotate'], 10 * 60_000);
      return { rotated, ms: Date.now() - started };
    });
    const { rotated, ms } = result;
    assert.equal(rotated.exitCode, 0, `${rotated.stdout}\n${rotated.stderr}`);
    for (const name of names) {
      assert.match(rotated.stdout, new RegExp(`^${name} rotated in `, 'm'));
      const now = secret(name);
      assert.notEqual(now, old.get(name), `${name}: a new password`);
      for (const value of [old.get(name) ?? '', now])
        assert.ok(
          !rotated.stdout.includes(value) && !rotated.stderr.includes(value),
          `${name}: no password printed`,
        );
    }
    assert.equal(summary.failed, 0, JSON.stringify(summary.failures));
    assert.ok(summary.kinds.page.ok > 0 && summary.kinds.write.ok > 0, kinds);
    // The agent, restarted with its new password, follows the primary again: a write made now
    // becomes recoverable, as db backups says; and it takes a full backup from the replica.
    const since = Date.now();
    assert.equal((await write(`after the rotation ${since}`)).db, 'web-01');
    const archived = await archiveFollows('web-01', since);
    const backupStarted = Date.now();
    const backup = await foobar(['db', 'backup', '--json'], 5 * 60_000);
    const backupMs = Date.now() - backupStarted;
    assert.equal(backup.exitCode, 0, `${backup.stdout}\n${backup.stderr}`);
    const listed = JSON.parse(
      (await foobar(['db', 'backups', '--json'], 2 * 60_000)).stdout,
    ) as BackupCatalog;
    assert.ok(
      listed.backups.some((b) => b.source === 'web-02' && Date.parse(b.startedAt) >= backupStarted),
      `a full backup from web-02 after the rotation: ${JSON.stringify(listed.backups.slice(-2))}`,
    );
    t.diagnostic(
      `secrets rotate: ${seconds(ms)} s (${rotated.stdout
        .split('\n')
        .filter((line) => line.includes(' rotated in '))
        .join(
          '; ',
        )}); visitors: ${summary.requests} requests, ${summary.failed} failed (${kinds}); a write after it recoverable ${seconds(archived.ms)} s after it was acknowledged; a full backup ${seconds(backupMs)} s (${load()})`,
    );
  });

  // ---- issue 11 point 10: the plan, the matrix, a deploy under load, promote and rejoin, a
  // reboot (branch h11t). Each `it` stands alone on the site the ones before left.

  it('up --plan on the healthy site runs, exits 0 and plans no change', async (t) => {
    const started = Date.now();
    const plan = await foobar(['up', '--plan'], UP_TIMEOUT_MS);
    t.diagnostic(`up --plan: ${seconds(Date.now() - started)} s (${load()})`);
    assert.equal(plan.exitCode, 0, `${plan.stdout}\n${plan.stderr}`);
    assert.equal(plan.stdout, `machines ${NAME}: nothing to change\n`);
  });

  it('the reachability matrix: every pair the flows allow connects, every other one fails, from the machines themselves', async (t) => {
    const result = await matrixHolds(t);
    t.diagnostic(`matrix: ${result.pairs} pairs in ${result.seconds.toFixed(1)} s (${load()})`);
  });

  it('a deploy under load: visitors from this machine, resolving through the site’s name servers, see 0 failed requests', async (t) => {
    const variant = appVariant('machines');
    const {
      result: { deploy, ms: deployMs },
      summary,
      kinds,
    } = await visitorsDuring(`mdeploy${Date.now()}`, async () => {
      const started = Date.now();
      visited.since = Math.floor(started / 1000) - 60;
      const result = await foobar(['deploy', '--from', variant], UP_TIMEOUT_MS);
      const ms = Date.now() - started;
      // Both web servers serve through the load balancers while the visitors keep coming. Asked
      // until both answered: the visitors' own requests take turns in the same round-robin, so a
      // few requests of ours may all land on one server (it failed so once at a load of 20).
      if (result.exitCode === 0)
        await waitFor(
          'both web servers serving after the deploy',
          async () => {
            const serving = await servingWebServers(2);
            return serving.join(',') === 'web-01,web-02'
              ? undefined
              : `serving: ${serving.join(', ')}`;
          },
          { timeoutMs: 60_000, intervalMs: 200 },
        );
      return { deploy: result, ms };
    });
    assert.equal(deploy.exitCode, 0, `${deploy.stdout}\n${deploy.stderr}`);
    t.diagnostic(
      `deploy: ${seconds(deployMs)} s; visitors: ${summary.requests} requests, ${summary.failed} failed (${kinds}); served by ${JSON.stringify(summary.servedBy)}; releases seen ${JSON.stringify(Object.fromEntries(Object.entries(summary.releases).map(([r, v]) => [r, v.pages])))} (${load()})`,
    );
    assert.equal(summary.failed, 0, JSON.stringify(summary.failures));
    assert.ok(summary.kinds.page.ok > 0 && summary.kinds.write.ok > 0, kinds);
    visited.requests = summary.requests;
  });

  it('logs within their cap: every visitor’s request of the deploy is in the load balancers’ journal, and at full speed through lb-01 the journal takes every line (no rate limit cuts it off) while every machine’s logs stay within the cap (journald’s limits, logrotate every 2 s)', async (t) => {
    assert.ok(visited.requests > 0, 'the deploy test ran its visitors');
    const ctx = siteContext();
    let logged = 0;
    for (const lb of ['lb-01', 'lb-02']) {
      // -o cat: HAProxy's lines as it wrote them; its HTTPS frontend is "www~".
      const journal = await ctx.driver.exec(lb, {
        argv: ['journalctl', '-u', 'haproxy.service', '--since', `@${visited.since}`, '-o', 'cat'],
        timeoutMs: 60_000,
      });
      logged += journal.stdout.split('\n').filter((line) => line.includes(' www~ ')).length;
      const limit = await ctx.driver.exec(lb, {
        argv: [
          'systemctl',
          'show',
          '--property=LogRateLimitIntervalUSec,LogRateLimitBurst',
          'haproxy.service',
        ],
      });
      assert.match(limit.stdout, /^LogRateLimitIntervalUSec=1s$/m, `${lb}: haproxy.service`);
      assert.match(
        limit.stdout,
        new RegExp(`^LogRateLimitBurst=${REQUEST_LOG_RATE_LIMIT.burst}$`, 'm'),
        `${lb}: haproxy.service`,
      );
    }
    t.diagnostic(
      `${visited.requests} visitors' requests, ${logged} lines in the load balancers' journal`,
    );
    assert.ok(logged >= visited.requests, `${logged} lines for ${visited.requests} requests`);
    for (const machine of ['lb-01', 'web-01']) {
      const limits = await ctx.driver.readFile(machine, JOURNALD_FILE);
      assert.equal(limits, renderJournald(ctx.model.logs), `${machine}: ${JOURNALD_FILE}`);
      const service = await ctx.driver.exec(machine, systemctl.isActive(LOGROTATE_UNIT), {
        check: false,
      });
      assert.equal(service.exitCode, 0, `${machine}: ${LOGROTATE_UNIT} active`);
    }
    // Full speed through lb-01 for 15 s, from one address: past the site's rate limit most
    // requests are HAProxy's 429s, each a line in its journal, thousands a second: more than the
    // journal's share of the cap holds, and past journald's default rate limit within seconds.
    const since = Math.floor(Date.now() / 1000);
    const speed = await here([
      'wrk',
      '-t2',
      '-c32',
      '-d15s',
      '-H',
      'Host: www.foobar.com',
      `https://${VIRTUAL['lb-01']}/`,
    ]);
    assert.equal(speed.exitCode, 0, speed.stderr);
    const until = Math.floor(Date.now() / 1000);
    const requests = Number(/(\d+) requests in/.exec(speed.stdout)?.[1]);
    assert.ok(requests > 0, speed.stdout);
    await sleep(3 * LOG_CHECK_SECONDS * 1000);
    // What lb-01's journal kept of the window, by second ("count second" pairs): a flood ages the
    // oldest lines out within the cap, but the newest are there up to the end.
    const kept = await ctx.driver.exec('lb-01', {
      argv: ['sh', '-c', haproxyLinesBySecond(since)],
      timeoutMs: 120_000,
    });
    const bySecond = [...kept.stdout.matchAll(/(\d+) (\d+)/g)].map(([, n, s]) => ({
      lines: Number(n),
      second: Number(s),
    }));
    const lines = bySecond.reduce((sum, b) => sum + b.lines, 0);
    const newest = Math.max(0, ...bySecond.map((b) => b.second));
    const journald = await ctx.driver.exec('lb-01', {
      argv: ['journalctl', '-u', 'systemd-journald.service', '--since', `@${since}`, '-o', 'cat'],
      timeoutMs: 60_000,
    });
    const info = await ctx.driver.exec(
      'lb-01',
      haproxy.runtime(haproxyFiles(hostPaths(ctx.model, 'lb-01')).socket, 'show info'),
    );
    const dropped = /^DroppedLogs: (\d+)$/m.exec(info.stdout)?.[1] ?? '?';
    const cap = ctx.model.logs.maxMegabytesPerHost * 1024 * 1024;
    const used: string[] = [];
    const totals = new Map<string, number>();
    const rotateSaid: string[] = [];
    for (const machine of NAMES) {
      // The journal (persistent or volatile) and foobar's files, live and rotated.
      const du = await ctx.driver.exec(
        machine,
        { argv: ['du', '-scb', '/var/log/journal', '/run/log/journal', MACHINE_LOGS] },
        { check: false },
      );
      const total = Number(/^(\d+)\s+total$/m.exec(du.stdout)?.[1]);
      totals.set(machine, total);
      used.push(`${machine} ${(total / 1024 / 1024).toFixed(1)} MB`);
      // logrotate says nothing when all is well: its processes (not systemd's lines about the
      // unit) wrote nothing since the deploy's visitors came, full speed included.
      const said = await ctx.driver.exec(machine, {
        argv: ['journalctl', `_SYSTEMD_UNIT=${LOGROTATE_UNIT}`, '--since', `@${visited.since}`],
        timeoutMs: 60_000,
      });
      rotateSaid.push(
        ...said.stdout
          .split('\n')
          .filter((l) => l.trim() !== '' && !l.startsWith('-- '))
          .map((l) => `${machine}: ${l}`),
      );
    }
    // The flood put this machine's address over the site's rate limit on lb-01, for up to its
    // period: the tests after this one browse and write from here.
    const { periodSeconds } = ctx.model.limits.rateLimit;
    await waitFor(
      'this machine under lb-01’s rate limit again',
      async () => {
        const page = await here([
          'curl',
          '-sS',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--max-time',
          '5',
          ...siteFlags(VIRTUAL['lb-01']),
          'https://www.foobar.com/',
        ]);
        return page.stdout === '200' ? undefined : `HTTP ${page.stdout} ${page.stderr}`;
      },
      { timeoutMs: (2 * periodSeconds + 30) * 1000, intervalMs: 1000 },
    );
    // `foobar logs` shows the files a daemon writes beside its journal: Nginx's access log, the
    // deploy's visits in it (read back into logrotate's generations when the live file is short).
    const accessLog = nginxFiles(hostPaths(ctx.model, 'web-01')).accessLog;
    const shown = await foobar(['logs', 'web-01', 'nginx', '-n', '5'], 60_000);
    assert.equal(shown.exitCode, 0, shown.stderr);
    assert.match(shown.stdout, /^==> journalctl -u \S*nginx\S* <==$/m);
    assert.match(shown.stdout, new RegExp(`^==> ${accessLog} <==\n(.*"[A-Z]+ /[^\n]*\n){5}`, 'm'));
    // And -f goes on from there: the journal after the cursor of its last line shown, the access
    // log with the next request. Its own process group: the end is what Ctrl-C does.
    const marker = `follow-${Date.now()}`;
    const follow = spawn(
      process.execPath,
      [CLI, '--config', config, 'logs', 'web-01', 'nginx', '-f', '-n', '1'],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let followed = '';
    follow.stdout.on('data', (d: Buffer) => (followed += d.toString()));
    follow.stderr.on('data', (d: Buffer) => (followed += d.toString()));
    const ended = new Promise((resolve) => follow.once('exit', resolve));
    try {
      await waitFor(
        `the request ${marker} in web-01's followed access log`,
        async () => {
          // Through lb-01, until one lands on web-01.
          await here([
            'curl',
            '-sS',
            '-o',
            '/dev/null',
            '--max-time',
            '5',
            ...siteFlags(VIRTUAL['lb-01']),
            `https://www.foobar.com/robots.txt?${marker}`,
          ]);
          return followed.includes(marker) ? undefined : 'not yet';
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
    } finally {
      if (follow.pid !== undefined) process.kill(-follow.pid, 'SIGINT');
      await ended;
    }
    // Without a terminal, what it ran on web-01 ends with the connection, not at the next line.
    await waitFor(
      "web-01's followers of the access log to end",
      async () => {
        const ps = await ctx.driver.exec('web-01', { argv: ['ps', '-eo', 'pid,args'] });
        const left = ps.stdout.split('\n').filter((l) => / -F .*access/.test(l));
        return left.length === 0 ? undefined : left.join('; ');
      },
      { timeoutMs: 5000, intervalMs: 200 },
    );
    assert.match(followed, /^==> journalctl -u \S*nginx\S* <==$/m);
    assert.doesNotMatch(followed, /^-- cursor: /m, 'the cursor is not shown');
    t.diagnostic(
      `${requests} requests at full speed in ${until - since} s: lb-01's journal kept ${lines} of their lines, the newest ${until - newest} s before the end (${bySecond
        .slice(-5)
        .map((b) => b.lines)
        .join(
          ', ',
        )} in its last seconds) (HAProxy dropped ${dropped} since its start); logs ${used.join(', ')} (cap ${ctx.model.logs.maxMegabytesPerHost} MB) (${load()})`,
    );
    assert.doesNotMatch(journald.stdout, /Suppressed .* haproxy/, 'journald’s rate limit');
    assert.ok(
      newest >= until - 3,
      `the journal's newest line of the window: ${until - newest} s before its end`,
    );
    // The newest lines came at the run's own rate: the last whole second and the one the run
    // ended in hold a quarter of a second's requests at least, or journald's default burst
    // (10,000 lines a 30 s interval, before journald scales it with free disk space) when the
    // journal's share of the cap holds less than that. A rate limit lets a burst by, then nothing
    // until its interval ends, and this run fits in one interval. Not a count of the window's lines: the share ages the oldest out, so a faster machine
    // keeps less of the window (38,786 lines, 0.8 s of a 46,805 req/s run, on 2026-12-07).
    const rate = requests / (until - since);
    const newestLines = bySecond
      .filter((b) => b.second >= until - 1)
      .reduce((sum, b) => sum + b.lines, 0);
    assert.ok(
      newestLines >= Math.min(rate / 4, JOURNALD_DEFAULT_BURST),
      `${newestLines} lines in the last two seconds, at ${Math.round(rate)} requests a second`,
    );
    for (const [machine, total] of totals)
      assert.ok(total > 0 && total <= cap, `${machine}: ${total} bytes of logs, cap ${cap}`);
    assert.deepEqual(rotateSaid, [], 'logrotate said nothing');
  });

  it('db promote --force makes the replica the primary, and db rejoin makes the old primary its replica', async (t) => {
    let started = Date.now();
    const promote = await foobar(['db', 'promote', 'web-02', '--force', '--json'], 5 * 60_000);
    promotedAt = Date.now();
    const promoteMs = Date.now() - started;
    assert.equal(promote.exitCode, 0, `${promote.stdout}\n${promote.stderr}`);
    const promoted = JSON.parse(promote.stdout) as ChangeReport;
    assert.equal(promoted.primary, 'web-02');
    const text = `after the promotion ${Date.now()}`;
    const written = await write(text);
    assert.equal(written.exitCode, 0, written.stderr);
    assert.equal(written.db, 'web-02', 'the new primary takes the writes');
    const archived = await archiveFollows('web-02', Date.now());
    started = Date.now();
    const rejoin = await foobar(['db', 'rejoin', 'web-01', '--json'], 5 * 60_000);
    const rejoinMs = Date.now() - started;
    assert.equal(rejoin.exitCode, 0, `${rejoin.stdout}\n${rejoin.stderr}`);
    const rejoined = JSON.parse(rejoin.stdout) as ChangeReport;
    assert.equal(rejoined.primary, 'web-02');
    await waitFor('web-01 replicating', () => replicating('web-01'), {
      timeoutMs: 30_000,
      intervalMs: 200,
      maxIntervalMs: 1000,
    });
    // The write made before the rejoin, and one after, reach the old primary.
    const later = `after the rejoin ${Date.now()}`;
    assert.equal((await write(later)).db, 'web-02');
    await messagesReach('web-01', [text, later]);
    // Each server's unit names its new role already: the next up restarts neither (it used to
    // find the promoted server's unit naming the replica's role, and restart the new primary).
    const plan = await foobar(['up', '--plan'], UP_TIMEOUT_MS);
    assert.ok([0, 2].includes(plan.exitCode), `${plan.stdout}\n${plan.stderr}`);
    assert.doesNotMatch(plan.stdout, /mariadb|my\.cnf/, plan.stdout);
    const steps = (r: ChangeReport): string =>
      r.steps.map((s) => `${s.what} ${seconds(s.ms)} s`).join('; ');
    t.diagnostic(
      `promote --force: ${seconds(promoteMs)} s (foobar's ${seconds(promoted.totalMs)} s: ${steps(promoted)})`,
    );
    t.diagnostic(
      `the archive followed web-02: its write recoverable ${seconds(archived.ms)} s after it was acknowledged (the promotion ${seconds(archived.sincePromotionMs)} s before)`,
    );
    t.diagnostic(
      `rejoin: ${seconds(rejoinMs)} s (foobar's ${seconds(rejoined.totalMs)} s: ${steps(rejoined)}) (${load()})`,
    );
  });

  it('a web and database machine rebooted from inside: the site is whole again by itself', async (t) => {
    // web-01: a web server, and since the rejoin the replica.
    const web = planned.find((m) => m.name === 'web-01');
    assert.ok(web !== undefined);
    const started = Date.now();
    const sshSeconds = await machines.reboot(web);
    let problem: string | undefined;
    try {
      await waitFor(
        'the site whole again',
        async () => {
          const replica = await replicating('web-01');
          if (replica !== undefined) return replica;
          const serving = await servingWebServers(2);
          if (serving.join(',') !== 'web-01,web-02') return `serving: ${serving.join(', ')}`;
          const written = await write(`after the reboot ${Date.now()}`);
          return written.db === 'web-02' ? undefined : `write: ${written.stderr || written.db}`;
        },
        { timeoutMs: WHOLE_AGAIN_BOUND_MS, intervalMs: 500, maxIntervalMs: 2000 },
      );
    } catch (error) {
      problem = (error as Error).message;
    }
    const wholeMs = Date.now() - started;
    if (problem !== undefined) {
      const units = await siteContext().driver.exec(
        'web-01',
        { argv: ['systemctl', '--no-pager', '--failed'], timeoutMs: 30_000 },
        { check: false },
      );
      assert.fail(`${problem}\n${units.stdout}`);
    }
    // Its firewall came back with it, before its network: every flow still holds, nothing else
    // gets in (a machine used to run with none after a reboot until the next foobar up).
    const matrix = await matrixHolds(t);
    t.diagnostic(
      `web-01 rebooted: SSH after ${sshSeconds.toFixed(1)} s, the site whole (both web servers serving, replication running, a write taken) after ${seconds(wholeMs)} s; the reachability matrix holds (${matrix.pairs} pairs) (${load()})`,
    );
  });

  it('the primary’s machine rebooted from inside: writes through the site again by itself (the restarted primary reopened, or the replica promoted), both web servers serving, replication running', async (t) => {
    const ctx = siteContext();
    const before = await readDbState(ctx);
    const old = planned.find((m) => m.name === before.primary);
    assert.ok(old !== undefined, before.primary);
    const started = Date.now();
    const sshSeconds = await machines.reboot(old);
    let writesBackMs: number | undefined;
    let primary = before.primary;
    await waitFor(
      'writes through the site again, both web servers serving',
      async () => {
        primary = (await readDbState(ctx)).primary;
        const written = await write(`after the primary's reboot ${Date.now()}`);
        if (written.db !== primary) return `write: ${written.stderr || written.db}`;
        writesBackMs ??= Date.now() - started;
        const serving = await servingWebServers(2);
        return serving.join(',') === 'web-01,web-02' ? undefined : `serving: ${serving.join(', ')}`;
      },
      { timeoutMs: WHOLE_AGAIN_BOUND_MS, intervalMs: 500, maxIntervalMs: 2000 },
    );
    const wholeMs = Date.now() - started;
    const after = await readDbState(ctx);
    const promoted = after.primary !== old.name;
    let rejoinMs = 0;
    let rejoined = '';
    if (promoted) {
      // The old primary is fenced: an operator makes it a replica (the managers never do) and
      // re-arms automatic failover (anti-flap), so the tests after this one start from a whole site.
      assert.deepEqual(after.fenced, [old.name]);
      const rejoinStarted = Date.now();
      rejoined = await rejoinAsOperator(machinesSite(), old.name);
      const resumed = await foobar(['db', 'failover', 'resume'], 120_000);
      assert.equal(resumed.exitCode, 0, `${resumed.stdout}\n${resumed.stderr}`);
      rejoinMs = Date.now() - rejoinStarted;
    } else {
      // Back faster than a failover: its server started read-only (as every one does), and a
      // failover manager opened it (steps/db/reopen.ts).
      assert.equal(after.epoch, before.epoch);
    }
    // Who acted, as its audit line says: a manager appends it once its change is over, which may
    // come after the first write through the site.
    const action = promoted ? 'automatic failover' : 'primary reopened';
    const acted = async (): Promise<AuditEntry | undefined> =>
      (await readAudit(ctx)).find((e) => e.action === action && Date.parse(e.time) >= started);
    await waitFor(
      `the audit line "${action}"`,
      async () => ((await acted()) === undefined ? 'none yet' : undefined),
      { timeoutMs: 60_000, intervalMs: 500, maxIntervalMs: 2000 },
    );
    const entry = await acted();
    assert.equal(entry?.outcome, 'succeeded', entry?.detail);
    const how = promoted
      ? `${after.primary} promoted (${entry.detail ?? ''}); ${rejoined}`
      : `reopened by ${entry.user}: ${entry.detail ?? ''}`;
    const replica = ['web-01', 'web-02'].find((n) => n !== after.primary) ?? '';
    await waitFor(`${replica} replicating`, () => replicating(replica), {
      timeoutMs: 60_000,
      intervalMs: 500,
      maxIntervalMs: 2000,
    });
    const replicatingMs = Date.now() - started;
    t.diagnostic(
      `${old.name} (the primary) rebooted: SSH after ${sshSeconds.toFixed(1)} s; the first write through the site after ${seconds(writesBackMs ?? wholeMs)} s, both web servers serving after ${seconds(wholeMs)} s, ${replica} replicating after ${seconds(replicatingMs)} s${rejoinMs > 0 ? ` (the operator's rejoin ${seconds(rejoinMs)} s)` : ''}; ${how} (${load()})`,
    );
  });

  // ---- end of h11t's scenarios.

  it('the primary’s MariaDB killed under writers: promoted with nobody at the keyboard, no acknowledged write lost', async (t) => {
    const writesBackMs = await primaryKilledUnderWrites(t, machinesSite(), 2);
    t.diagnostic(`kill → first write on the new primary: ${seconds(writesBackMs)} s`);
  });

  it('the primary’s machine silenced (every packet to and from it dropped, it keeps running) under writers: promoted with nobody at the keyboard, no acknowledged write lost, and whole again after db rejoin', async (t) => {
    const machine = (name: string): Machine => {
      const found = planned.find((m) => m.name === name);
      assert.ok(found !== undefined, name);
      return found;
    };
    const writesBackMs = await primarySilencedUnderWrites(t, machinesSite(), 2, {
      silence: (name) => machines.silence(machine(name)),
      unsilence: () => machines.unsilence(),
      whole: async (primary) => {
        for (const replica of ['web-01', 'web-02'].filter((n) => n !== primary)) {
          const problem = await replicating(replica);
          if (problem !== undefined) return problem;
        }
        const serving = await servingWebServers(2);
        if (serving.join(',') !== 'web-01,web-02') return `serving: ${serving.join(', ')}`;
        const written = await write(`after the silence ${Date.now()}`);
        return written.db === primary ? undefined : `write: ${written.stderr || written.db}`;
      },
    });
    t.diagnostic(
      `silence → first write on the new primary: ${seconds(writesBackMs)} s (${load()})`,
    );
  });

  it('tls.acme: up orders the site’s certificate from Pebble by HTTP-01 through both load balancers; curl trusting only Pebble gets the page through every address; a second up orders nothing', async (t) => {
    // Pebble on this machine, at its edge address: the internet's CA. It resolves the site's
    // names at lb-01's name server and validates on port 80 of the virtual addresses.
    const lb1 = planned.find((m) => m.name === 'lb-01');
    assert.ok(lb1?.edge !== undefined);
    pebble = await runPebble(
      {
        driver: local,
        host: null,
        address: `${EDGE}.1`,
        dir: path.join(dir, 'pebble'),
        dnsServer: `${lb1.edge}:53`,
        httpPort: 80,
        tlsPort: 443,
      },
      ACME_VALIDITY_SECONDS,
    );
    acmeConfig = withAcme(pebble);
    let started = Date.now();
    const up = await foobar(['up'], UP_TIMEOUT_MS, acmeConfig);
    const upMs = Date.now() - started;
    assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
    assert.match(up.stdout, /issued in/);
    const serials = new Set<string>();
    for (const address of lbAddresses()) {
      assert.equal(await fetchTrustingPebble(pebble, address), '200 0', address);
      const cert = await presented(address);
      assert.match(cert.issuer, /Pebble Intermediate CA/, address);
      assert.match(cert.subjectAltName ?? '', /DNS:www\.foobar\.com/);
      serials.add(cert.serialNumber);
      acmeIssued = cert;
    }
    assert.equal(serials.size, 1, 'both load balancers present the same certificate');
    started = Date.now();
    const again = await foobar(['up'], UP_TIMEOUT_MS, acmeConfig);
    const againMs = Date.now() - started;
    assert.equal(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
    assert.doesNotMatch(again.stdout, /issued in/);
    for (const address of lbAddresses())
      assert.equal((await presented(address)).serialNumber, acmeIssued?.serialNumber, address);
    t.diagnostic(
      `up with tls.acme: ${seconds(upMs)} s (${/issued in [\d.]+ s/.exec(up.stdout)?.[0] ?? ''}); the second up ${seconds(againMs)} s ordered nothing (${load()})`,
    );
  });

  it('tls.acme: up renews it within renewBeforeSeconds and swaps it on both load balancers while visitors browse: no HAProxy reloaded, 0 failed', async (t) => {
    assert.ok(pebble !== undefined && acmeIssued !== undefined, 'Pebble issued a certificate');
    const issued = acmeIssued;
    // Due at once: the window is longer than the certificate's whole life.
    const renewing = withAcme(pebble, 2 * ACME_VALIDITY_SECONDS);
    const workers = await haproxyWorkers();
    const {
      result: { up, ms },
      summary,
      kinds,
    } = await visitorsDuring(`macme${Date.now()}`, async () => {
      const started = Date.now();
      const result = await foobar(['up'], UP_TIMEOUT_MS, renewing);
      const took = Date.now() - started;
      // Visitors keep coming for a few seconds on the new certificate.
      await sleep(3000);
      return { up: result, ms: took };
    });
    assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
    assert.match(up.stdout, /issued in .*expires within renewBeforeSeconds/);
    for (const address of lbAddresses()) {
      const cert = await presented(address);
      assert.notEqual(cert.serialNumber, issued.serialNumber, address);
      assert.ok(
        Date.parse(cert.validTo) > Date.parse(issued.validTo),
        `${address}: a later expiry`,
      );
      assert.equal(await fetchTrustingPebble(pebble, address), '200 0', address);
      acmeIssued = cert;
    }
    assert.deepEqual(await haproxyWorkers(), workers, 'no HAProxy reloaded');
    t.diagnostic(
      `renewal up: ${seconds(ms)} s; visitors: ${summary.requests} requests, ${summary.failed} failed (${kinds}) (${load()})`,
    );
    assert.equal(summary.failed, 0, JSON.stringify(summary.failures.slice(0, 5)));
    assert.ok(summary.kinds.page.ok > 0, kinds);
  });

  it('a load balancer’s machine rebooted from inside: it comes back presenting the ACME certificate and holds its virtual address again, by itself', async (t) => {
    assert.ok(pebble !== undefined && acmeIssued !== undefined, 'Pebble issued a certificate');
    const lb = planned.find((m) => m.name === 'lb-01');
    assert.ok(lb?.edge !== undefined);
    const ca = pebble;
    const serial = acmeIssued.serialNumber;
    const started = Date.now();
    const sshSeconds = await machines.reboot(lb);
    // Back when it presents the certificate on its own address and holds its virtual address
    // again (it owns it: the higher VRRP priority, after the preempt delay), not lb-02 for it.
    const holds = async (): Promise<string | undefined> => {
      const addresses = await siteContext()
        .driver.exec(
          'lb-01',
          { argv: ['ip', '-4', '-o', 'addr', 'show', 'dev', 'edge'], timeoutMs: 30_000 },
          { check: false },
        )
        .catch((error: unknown) => ({ stdout: (error as Error).message }));
      return addresses.stdout.includes(`${VIRTUAL['lb-01']}/`)
        ? undefined
        : `lb-01 does not hold ${VIRTUAL['lb-01']}: ${addresses.stdout.trim()}`;
    };
    await waitFor(
      'lb-01 serving the ACME certificate on its own address and holding its virtual address',
      async () => {
        const cert = await presented(lb.edge ?? '').catch((error: unknown) => error as Error);
        if (cert instanceof Error) return cert.message;
        if (cert.serialNumber !== serial) return `lb-01 presents ${cert.issuer}`;
        return holds();
      },
      { timeoutMs: WHOLE_AGAIN_BOUND_MS, intervalMs: 500, maxIntervalMs: 2000 },
    );
    const backMs = Date.now() - started;
    for (const address of lbAddresses())
      assert.equal(await fetchTrustingPebble(ca, address), '200 0', address);
    t.diagnostic(
      `lb-01 rebooted: SSH after ${sshSeconds.toFixed(1)} s, presenting the ACME certificate on its own and its virtual address after ${seconds(backMs)} s (${load()})`,
    );
  });

  it('up without tls.acme goes back to the site’s own CA on both load balancers', async () => {
    try {
      const up = await foobar(['up'], UP_TIMEOUT_MS);
      assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
      for (const address of lbAddresses())
        assert.doesNotMatch((await presented(address)).issuer, /Pebble/, address);
    } finally {
      await pebble?.stop();
      pebble = undefined;
    }
  });

  it('down stops the site; the machines come down leaving nothing on this machine', async (t) => {
    const started = Date.now();
    const down = await foobar(['down'], 10 * 60_000);
    assert.equal(down.exitCode, 0, `${down.stdout}\n${down.stderr}`);
    t.diagnostic(`down: ${seconds(Date.now() - started)} s (${load()})`);
    // Its slowest steps, as the progress prints their times ("412 ms", "3.4 s"): which daemon
    // or machine keeps a down waiting.
    const stepMs = (line: string): number => {
      const time = / ([\d.]+) (ms|s)$/.exec(line);
      return time === null ? 0 : Number(time[1]) * (time[2] === 's' ? 1000 : 1);
    };
    const slowest = down.stdout
      .split('\n')
      .sort((a, b) => stepMs(b) - stepMs(a))
      .slice(0, 6);
    t.diagnostic(`down's slowest steps: ${slowest.map((l) => l.trim()).join(' | ')}`);
    const page = await here([
      'curl',
      '-sS',
      '--max-time',
      '3',
      ...siteFlags(VIRTUAL['lb-01']),
      'https://www.foobar.com/api/whoami',
    ]);
    assert.notEqual(page.exitCode, 0, 'the site is down');
    // Every machine's units were disabled and their files removed: a second down finds none.
    for (const name of NAMES)
      assert.match(down.stdout, new RegExp(`${name}: \\d+ units disabled and removed`), name);
    const again = await foobar(['down'], 10 * 60_000);
    assert.equal(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
    for (const name of NAMES)
      assert.match(again.stdout, new RegExp(`${name}: no units of foobar`), again.stdout);
    const booted = machines.list();
    await machines.down();
    assert.deepEqual(await machines.leftovers(booted), []);
    assert.deepEqual(sshLeftovers, [], 'every CLI run closed its SSH connections');
  });
});
