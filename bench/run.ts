/**
 * `npm run bench`: throughput and latency through each tier, measured with wrk in one run on a lab
 * of its own. Each path's figure is given as a ratio to its direct figure (the daemon alone), which
 * holds better than absolute numbers on a shared, noisy machine; and our load balancer against a
 * bare HAProxy (TLS and round-robin only, same certificate, same host, same web servers) in rounds
 * interleaved in the same run: kept-alive HTTPS, new visitors' connections (full handshakes, s_time)
 * and returning ones' (resumed, wrk), HTTP/2, RSA against ECDSA; TLS
 * behind the edge against clear text (to Nginx, to MariaDB, to the exporters, the backup stream,
 * replication between the database servers); a reload under load; deploys under load; the lab's
 * memory after `up` and after the load, and against each kind of daemon started bare beside it.
 *
 * Where wrk runs: "direct" targets are only reachable inside a web server (the app listens on
 * loopback; web servers have no edge address), so wrk runs there; "via LB" runs on the client
 * host, as a user would: HTTPS to www through DNS (TLS ends at HAProxy; wrk keeps connections
 * alive, so this measures the proxies, not handshakes).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { addressOf, hostsWithRole } from '../src/model/model.ts';
import { runningPid } from '../src/steps/daemon.ts';
import { haproxyDaemon } from '../src/steps/services.ts';
import { deploy, STRATEGIES, type Strategy } from '../src/steps/deploy.ts';
import { buildApp, liveRelease } from '../src/steps/release.ts';
import { appVariant, removeAppVariants } from '../test/support/apps.ts';
import { siteUrl } from '../src/probes/site.ts';
import { createTestLab, type TestLab } from '../test/support/lab.ts';
import { startBackendBares } from './backends.ts';
import { renderBareHaproxy, startBareHaproxy, type Bare } from './bare.ts';
import { FEATURES, renderCopy, startCopy } from './features.ts';
import { formatProfiles, profileLoad, startProfiled, type Profile } from './profile.ts';
import {
  addRows,
  byObject,
  formatSampled,
  SAMPLE_PERIOD_NS,
  sampleLoad,
  type SampleRow,
  type Sampled,
} from './sampled.ts';
import { dbTlsCost, formatDbTls } from './dbtls.ts';
import { formatTransit, transitCost } from './transit.ts';
import { formatRepl, replTlsCost } from './repltls.ts';
import { compare, comparisonTable, formatTable, type Comparison } from './compare.ts';
import { h2load, parseH2load } from './h2load.ts';
import { missingTools } from './tools.ts';
import { parseStime, stime } from './stime.ts';
import { formatLogCap, watchLogs } from './logcap.ts';
import { describeMemory, labMemory } from './memory.ts';
import {
  againstBareMemory,
  bareMemoryCases,
  formatBareMemory,
  measureBareMemory,
} from './bare-memory.ts';
import { withCpu } from './cpu.ts';
import { haproxyFiles, MOZILLA_INTERMEDIATE } from '../src/render/haproxy/index.ts';
import { hostPaths, runtimeOf } from '../src/model/layout.ts';
import { parseWrk, wrk, type WrkOptions, type WrkResult } from './wrk.ts';
import { formatTimings, measureCommands } from './commands.ts';
import { soak, soakOptions } from './soak.ts';

interface Case {
  readonly name: string;
  readonly host: string;
  readonly url: string;
  /** The case whose figure this one is compared with. */
  readonly baseline: string;
}

interface Measured extends Case, WrkResult {
  readonly ratio: number;
}

const OPTIONS: WrkOptions = {
  seconds: Number(process.env.BENCH_SECONDS ?? 5),
  connections: 32,
  threads: 2,
};

async function measure(lab: TestLab, c: Case): Promise<WrkResult> {
  // A short warm-up: JIT, connection pools, page cache.
  await lab.ctx.driver.exec(c.host, wrk(c.url, { ...OPTIONS, seconds: 1 }));
  const result = await lab.ctx.driver.exec(c.host, wrk(c.url, OPTIONS));
  return parseWrk(result.stdout);
}

function table(rows: readonly Measured[]): string {
  const header = ['path', 'from', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'ratio'];
  const body = rows.map((r) => [
    r.name,
    r.host,
    r.requestsPerSecond.toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    String(r.errors),
    r.baseline === r.name ? '1 (direct)' : `${r.ratio.toFixed(2)} of ${r.baseline}`,
  ]);
  return formatTable(header, body);
}

const run = promisify(execFile);

/** How many interleaved rounds each comparison with a bare reference runs. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** s_time processes at once for returning visitors' handshakes (one is bound by its own latency). */
const STIME_PROCESSES = 8;
/** The copies of our HAProxy (bench/features.ts) listen on ours + 8010, 8011, ... */
const FEATURE_PORT_OFFSET = 8010;
/** The profiled HAProxys' ports, one at a time: ours + this. */
const PROFILE_PORT_OFFSET = 8030;
/** The bare daemons of the memory part listen on 127.0.0.1 from this port up, on the client. */
const BARE_MEMORY_PORT = 19_400;
/** How long the lab idles after the load before its memory is held against the bare ones'. */
const BARE_MEMORY_IDLE_MS = 30_000;
/** How long they settle before their memory is read (the Go runtimes' first collections). */
const BARE_MEMORY_SETTLE_MS = 15_000;
/** Requests a profiled HAProxy is sent for each load (after a tenth as many to warm it up). */
const PROFILE_REQUESTS = Number(process.env.BENCH_PROFILE_REQUESTS ?? 4000);
/** What each profiled HAProxy is sent: the static file kept alive, over HTTP/1.1 and HTTP/2. */
const PROFILE_LOADS = [
  { what: 'static file, kept alive, HTTP/1.1', http2: false },
  { what: 'static file, HTTP/2 (4 streams a connection)', http2: true },
] as const;

/** wrk from `host` with `options` (OPTIONS by default), after a one-second warm-up. */
async function wrkFrom(
  lab: TestLab,
  host: string,
  url: string,
  options: WrkOptions = OPTIONS,
): Promise<WrkResult> {
  await lab.ctx.driver.exec(host, wrk(url, { ...options, seconds: 1 }));
  return parseWrk((await lab.ctx.driver.exec(host, wrk(url, options))).stdout);
}

/** A self-signed RSA 2048 certificate and its key for `name`, PEM (s_time does not verify it). */
async function rsaCertificate(name: string): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-rsa-'));
  try {
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    return readFileSync(cert, 'utf8') + readFileSync(key, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * 8 s_time processes from the client (bench/stime.ts) to `to` (address:port): handshakes alone,
 * each resuming its first session or not; or, with `www`, a request on every connection too:
 * new visitors, with `resume` false (wrk with `Connection: close` resumes its sessions).
 */
async function handshakesFrom(
  lab: TestLab,
  to: string,
  resume: boolean,
  www?: string,
): Promise<WrkResult> {
  const options = { seconds: OPTIONS.seconds, processes: STIME_PROCESSES, resume, www };
  const result = await lab.ctx.driver.exec('client', stime(to, options));
  return parseStime(result.stdout, STIME_PROCESSES, OPTIONS.seconds, www !== undefined);
}

/**
 * Our load balancer against bare HAProxys on the same host (lb-01): ECDSA (the site's
 * certificate) and RSA 2048 (a certificate made for this), from the client, by address with the
 * site's name in Host, so both sides get exactly the same requests.
 */
async function againstBare(lab: TestLab, asset: string): Promise<Comparison[]> {
  const [lb] = hostsWithRole(lab.model, 'lb');
  if (lb === undefined) throw new Error('no load balancer');
  const rsa = await rsaCertificate(`www.${lab.model.domain}`);
  const bare = await startBareHaproxy(lab.ctx, lb);
  const bareRsa = await startBareHaproxy(lab.ctx, lb, {
    name: 'bare-rsa',
    offset: 8001,
    certificate: rsa,
  });
  // Mozilla's intermediate profile turns session tickets off; this one has them, to see what
  // that choice costs a returning visitor.
  const bareTickets = await startBareHaproxy(lab.ctx, lb, {
    name: 'bare-tickets',
    offset: 8005,
    tlsOptions: MOZILLA_INTERMEDIATE.options.replace(/ ?no-tls-tickets/, ''),
  });
  try {
    const address = addressOf(lb, 'edge');
    const ours = `https://${address}`;
    const bareUrl = `https://${address}:${bare.port}`;
    const host = [`Host: www.${lab.model.domain}`];
    const kept = { ...OPTIONS, headers: host };
    const fresh = { ...OPTIONS, headers: [...host, 'Connection: close'] };
    const reference = `bare HAProxy on ${lb.name} (TLS, round-robin)`;
    // Each side's HAProxy CPU per request too (bench/cpu.ts): steadier than requests a second.
    const cpuOf = (pidFile: string) => (run: () => Promise<WrkResult>) => () =>
      withCpu(lab.ctx, lb.name, pidFile, run);
    const onOurs = cpuOf(haproxyFiles(hostPaths(lab.model, lb.name)).pid);
    const onBare = cpuOf(bare.pidFile);
    const onRsa = cpuOf(bareRsa.pidFile);
    const onTickets = cpuOf(bareTickets.pidFile);
    const handshakes = (port: number, resume: boolean) => () =>
      handshakesFrom(lab, `${address}:${port}`, resume);
    const newVisitors = (port: number) => () =>
      handshakesFrom(lab, `${address}:${port}`, false, asset);
    const https = lab.model.ports.https;
    const round = (
      name: string,
      goal: number | undefined,
      ourFn: () => Promise<WrkResult>,
      bareFn: () => Promise<WrkResult>,
      ref = reference,
    ) => {
      process.stdout.write(`bench: ${name}, ${ROUNDS} rounds against ${ref}\n`);
      return compare(name, ref, ROUNDS, ourFn, bareFn, goal);
    };
    return [
      await round(
        'static file, HTTPS kept alive',
        0.95,
        onOurs(() => wrkFrom(lab, 'client', `${ours}${asset}`, kept)),
        onBare(() => wrkFrom(lab, 'client', `${bareUrl}${asset}`, kept)),
      ),
      await round(
        'app page /, HTTPS kept alive',
        0.95,
        onOurs(() => wrkFrom(lab, 'client', `${ours}/`, kept)),
        onBare(() => wrkFrom(lab, 'client', `${bareUrl}/`, kept)),
      ),
      await round(
        'new visitors: a new HTTPS connection, full handshake, one request each',
        0.95,
        onOurs(newVisitors(https)),
        onBare(newVisitors(bare.port)),
      ),
      await round(
        'returning visitors: a new connection resuming its TLS session, one request each',
        undefined,
        onOurs(() => wrkFrom(lab, 'client', `${ours}${asset}`, fresh)),
        onBare(() => wrkFrom(lab, 'client', `${bareUrl}${asset}`, fresh)),
      ),
      await round(
        'HTTP/2, 8 connections × 16 streams',
        0.95,
        onOurs(() => h2From(lab, `${ours}${asset}`)),
        onBare(() => h2From(lab, `${bareUrl}${asset}`)),
      ),
      await round(
        'new visitors: RSA 2048 ÷ ECDSA P-256',
        undefined,
        onRsa(newVisitors(bareRsa.port)),
        onBare(newVisitors(bare.port)),
        'the same bare HAProxy with the ECDSA certificate',
      ),
      await round(
        'resumed TLS sessions (returning visitors, handshakes)',
        undefined,
        onOurs(handshakes(https, true)),
        onBare(handshakes(bare.port, true)),
      ),
      await round(
        'handshakes: resumed ÷ full, ours',
        undefined,
        onOurs(handshakes(https, true)),
        onOurs(handshakes(https, false)),
        'full handshakes on ours',
      ),
      await round(
        'resumed handshakes: session tickets ÷ the session cache',
        undefined,
        onTickets(handshakes(bareTickets.port, true)),
        onBare(handshakes(bare.port, true)),
        'the same bare HAProxy without tickets (Mozilla intermediate)',
      ),
    ];
  } finally {
    await bare.stop();
    await bareRsa.stop();
    await bareTickets.stop();
  }
}

/** HTTP/2 from the client, as the goal measures it: 8 connections × 16 streams. */
async function h2From(lab: TestLab, url: string, seconds = OPTIONS.seconds): Promise<WrkResult> {
  const options = {
    seconds,
    connections: 8,
    streams: 16,
    threads: 2,
    headers: [`:authority: www.${lab.model.domain}`],
  };
  return parseH2load((await lab.ctx.driver.exec('client', h2load(url, options))).stdout);
}

/** A HAProxy of the bench's: where it listens, and its pid file (for its CPU). */
interface Target {
  readonly url: string;
  readonly pidFile: string;
}

/**
 * The features part counted instead of timed (bench/profile.ts): bare, the exact copy of ours and
 * each copy without a feature, one at a time on lb-01 under callgrind, each sent the same number
 * of kept-alive requests for the static file over HTTP/1.1, then over HTTP/2.
 */
async function profileTheDifference(lab: TestLab, asset: string): Promise<Profile[][]> {
  const [lb] = hostsWithRole(lab.model, 'lb');
  if (lb === undefined) throw new Error('no load balancer');
  const paths = hostPaths(lab.model, lb.name);
  const port = lab.model.ports.https + PROFILE_PORT_OFFSET;
  const socket = path.join(paths.run, 'haproxy-profiled.sock');
  const configs = [
    {
      name: 'bare',
      config: renderBareHaproxy(lab.model, lb, haproxyFiles(paths).certificate, port),
    },
    { name: 'a copy of ours', config: renderCopy(lab.model, lb, { port, socket }) },
    ...FEATURES.map((feature) => ({
      name: `without ${feature.name}`,
      config: renderCopy(lab.model, lb, { port, socket, without: feature }),
    })),
  ];
  const profiles: Profile[][] = PROFILE_LOADS.map(() => []);
  for (const { name, config } of configs) {
    process.stdout.write(`bench: ${name} under callgrind, ${PROFILE_REQUESTS} requests a load\n`);
    const target = await startProfiled(lab.ctx, lb, { name: 'profiled', port, config });
    try {
      for (const [i, { http2 }] of PROFILE_LOADS.entries()) {
        const counts = await profileLoad(lab.ctx, lb, 'client', target, {
          path: asset,
          requests: PROFILE_REQUESTS,
          http2,
        });
        profiles[i]?.push({ name, requests: PROFILE_REQUESTS, counts });
      }
    } finally {
      await target.stop();
      rmSync(target.outFile, { force: true });
    }
  }
  return profiles;
}

/** The sampled HAProxys' ports: ours + these. */
const SAMPLED_PORT_OFFSETS = { bare: 8040, ours: 8041 } as const;

/**
 * Where HAProxy's time goes in the same load, kernel included (bench/sampled.ts): bare and an
 * exact copy of ours on lb-01, perf sampling each while the client sends it the static file
 * (kept alive over HTTP/1.1, then over HTTP/2), in interleaved rounds (bare, ours,
 * bare, ours...), the samples summed: for each load, what it is and the two HAProxys' samples.
 */
async function sampleTheDifference(
  lab: TestLab,
  asset: string,
): Promise<{ what: string; bare: Sampled; ours: Sampled }[]> {
  const [lb] = hostsWithRole(lab.model, 'lb');
  if (lb === undefined) throw new Error('no load balancer');
  const started: Bare[] = [];
  try {
    const bare = await startBareHaproxy(lab.ctx, lb, {
      name: 'sampled-bare',
      offset: SAMPLED_PORT_OFFSETS.bare,
    });
    started.push(bare);
    const ours = await startCopy(lab.ctx, lb, 'sampled-ours', SAMPLED_PORT_OFFSETS.ours);
    started.push(ours);
    const kept = { ...OPTIONS, headers: [`Host: www.${lab.model.domain}`] };
    // Each load warms up for a second first (wrk a run of its own, h2load its --warm-up-time)
    // and lasts 2 s longer than the samples, which start 1.5 s in.
    const seconds = OPTIONS.seconds + 2;
    const loads = [
      {
        what: `the static file kept alive, wrk -t${OPTIONS.threads} -c${OPTIONS.connections}`,
        run: (url: string) => wrkFrom(lab, 'client', url, { ...kept, seconds }),
      },
      {
        what: 'the static file over HTTP/2, h2load 8 connections × 16 streams',
        run: (url: string) => h2From(lab, url, seconds),
      },
    ];
    const results = [];
    for (const { what, run } of loads) {
      const sides = [
        { name: 'bare', haproxy: bare, requests: 0, rows: [] as SampleRow[] },
        { name: 'ours', haproxy: ours, requests: 0, rows: [] as SampleRow[] },
      ];
      for (let round = 1; round <= ROUNDS; round++)
        for (const side of sides) {
          process.stdout.write(
            `bench: perf samples ${side.name} under ${what}, round ${round} of ${ROUNDS}\n`,
          );
          const url = `https://${addressOf(lb, 'edge')}:${side.haproxy.port}${asset}`;
          const { rows, requests } = await sampleLoad(
            lab.ctx,
            lb.name,
            side.haproxy.pidFile,
            OPTIONS.seconds,
            () => run(url),
          );
          side.requests += requests;
          side.rows = addRows(side.rows, rows);
        }
      const [b, o] = sides.map(({ name, requests, rows }): Sampled => ({ name, requests, rows }));
      if (b === undefined || o === undefined) throw new Error('unreachable');
      results.push({ what, bare: b, ours: o });
    }
    return results;
  } finally {
    for (const one of started) await one.stop();
  }
}

/**
 * Where ours differs from bare (bench/features.ts): an exact copy of our HAProxy on lb-01 against
 * the bare one (the copy keeps ours' gap), then copies each without one feature against the exact
 * copy, in interleaved rounds: above 1, what that feature costs. Each load the goals measure
 * ours by: the static file and the app page kept alive, new connections, HTTP/2.
 */
async function whereTheDifferenceGoes(lab: TestLab, asset: string): Promise<Comparison[]> {
  const [lb] = hostsWithRole(lab.model, 'lb');
  if (lb === undefined) throw new Error('no load balancer');
  const started: Bare[] = [];
  try {
    const start = async (bare: Promise<Bare>): Promise<Target> => {
      const one = await bare;
      started.push(one);
      return { url: `https://${addressOf(lb, 'edge')}:${one.port}`, pidFile: one.pidFile };
    };
    const bare = await start(startBareHaproxy(lab.ctx, lb));
    const copy = await start(startCopy(lab.ctx, lb, 'copy', FEATURE_PORT_OFFSET));
    const without = [];
    for (const [i, feature] of FEATURES.entries())
      without.push({
        feature,
        url: await start(
          startCopy(lab.ctx, lb, `without-${i}`, FEATURE_PORT_OFFSET + 1 + i, feature),
        ),
      });
    const host = [`Host: www.${lab.model.domain}`];
    const kept = { ...OPTIONS, headers: host };
    const fresh = { ...OPTIONS, headers: [...host, 'Connection: close'] };
    const results: Comparison[] = [];
    // As the goals measure ours against bare: kept-alive HTTPS, new visitors, HTTP/2.
    const loads: readonly (readonly [string, (url: string) => Promise<WrkResult>])[] = [
      ['static file', (url) => wrkFrom(lab, 'client', `${url}${asset}`, kept)],
      ['app page /', (url) => wrkFrom(lab, 'client', `${url}/`, kept)],
      ['new connections (resumed)', (url) => wrkFrom(lab, 'client', `${url}${asset}`, fresh)],
      [
        'new visitors (full handshakes)',
        (url) => handshakesFrom(lab, new URL(url).host, false, asset),
      ],
      ['HTTP/2 static file', (url) => h2From(lab, `${url}${asset}`)],
    ];
    // BENCH_FEATURE_LOADS=new,HTTP/2 measures only the loads whose names start so.
    const only = process.env.BENCH_FEATURE_LOADS?.split(',');
    const chosen = loads.filter(([what]) => only?.some((o) => what.startsWith(o)) ?? true);
    for (const [what, request] of chosen) {
      const load = (target: Target) => () =>
        withCpu(lab.ctx, lb.name, target.pidFile, () => request(target.url));
      const run = async (name: string, ours: Target, reference: Target, refName: string) => {
        process.stdout.write(`bench: ${name}, ${ROUNDS} rounds
`);
        results.push(await compare(name, refName, ROUNDS, load(ours), load(reference)));
      };
      await run(`${what}: a copy of ours ÷ bare`, copy, bare, 'bare HAProxy');
      for (const { feature, url } of without)
        await run(`${what}: without ${feature.name} ÷ ours`, url, copy, 'the copy of ours');
    }
    return results;
  } finally {
    for (const one of started) await one.stop();
  }
}

/**
 * TLS to the web servers against clear text, through a bare HAProxy each (bench/backends.ts), in
 * interleaved rounds: a kept-alive static file and app page, and new visitors' connections; then
 * new connections with `http-reuse always` (ours) against HAProxy's default `safe`.
 */
async function againstPlainBackends(lab: TestLab, asset: string): Promise<Comparison[]> {
  const [lb] = hostsWithRole(lab.model, 'lb');
  if (lb === undefined) throw new Error('no load balancer');
  const bares = await startBackendBares(lab.ctx, lb);
  try {
    const address = addressOf(lb, 'edge');
    const url = (port: number): string => `https://${address}:${port}`;
    const [tls, plain, safe] = [url(bares.tls.port), url(bares.plain.port), url(bares.safe.port)];
    const host = [`Host: www.${lab.model.domain}`];
    const kept = { ...OPTIONS, headers: host };
    const fresh = { ...OPTIONS, headers: [...host, 'Connection: close'] };
    const reference = `the same bare HAProxy on ${lb.name}, clear text to Nginx`;
    const round = (
      name: string,
      path: string,
      options: WrkOptions,
      ours = tls,
      bare = plain,
      ref = reference,
    ) => {
      process.stdout.write(`bench: ${name}, ${ROUNDS} rounds against ${ref}\n`);
      return compare(
        name,
        ref,
        ROUNDS,
        () => wrkFrom(lab, 'client', `${ours}${path}`, options),
        () => wrkFrom(lab, 'client', `${bare}${path}`, options),
      );
    };
    return [
      await round('TLS to Nginx ÷ plain: static file, kept alive', asset, kept),
      await round('TLS to Nginx ÷ plain: app page /, kept alive', '/', kept),
      await round('TLS to Nginx ÷ plain: new connections', asset, fresh),
      await round(
        'TLS to Nginx, new connections: http-reuse always ÷ safe',
        asset,
        fresh,
        tls,
        safe,
        'the same bare HAProxy with http-reuse safe (HAProxy’s default)',
      ),
    ];
  } finally {
    await bares.stop();
  }
}

/**
 * What a HAProxy reload costs requests in flight: kept-alive HTTPS from the client to lb-01 while
 * its HAProxy reloads (new workers; old ones finish their connections), against the same load
 * without a reload just before.
 */
async function reloadUnderLoad(lab: TestLab, asset: string) {
  const [lb] = hostsWithRole(lab.model, 'lb');
  if (lb === undefined) throw new Error('no load balancer');
  const url = `https://${addressOf(lb, 'edge')}${asset}`;
  const options = { ...OPTIONS, seconds: 10, headers: [`Host: www.${lab.model.domain}`] };
  const quiet = await wrkFrom(lab, 'client', url, options);
  const daemon = haproxyDaemon(lab.ctx, lb);
  const loaded = lab.ctx.driver.exec('client', wrk(url, options));
  await sleep(3000);
  const pid = await runningPid(lab.ctx, daemon);
  if (pid === undefined) throw new Error(`HAProxy on ${lb.name} is not running`);
  const began = Date.now();
  await lab.ctx.platform.supervisor.reload(lab.ctx, daemon, pid);
  const reloadMs = Date.now() - began;
  const during = parseWrk((await loaded).stdout);
  return { host: lb.name, reloadMs, quiet, during };
}

/**
 * A deploy's wall time, and what users saw while it ran: visitors asking for the home page back to
 * back on kept-alive connections, as `foobar drill` sends them, for longer than it takes.
 */
async function deployUnderLoad(lab: TestLab, strategy: Strategy) {
  const visitors = lab.visitKinds({ seconds: 8, kinds: ['page'], visitors: 8 });
  await visitors.ready();
  const result = await deploy(lab.ctx, {
    action: 'deploy',
    strategy,
    release: () => buildApp(lab.ctx, appVariant(`bench-${strategy}`)),
  });
  const seen = (await visitors.done()).kinds.page;
  return {
    strategy,
    servers: hostsWithRole(lab.model, 'web').length,
    seconds: result.seconds,
    requests: seen.requests,
    failed: seen.requests - seen.ok,
    errors: seen.errors,
  };
}

/** Which parts run (BENCH_PARTS=bare,reload...; all but the hour-long soak by default). */
const PARTS = new Set(
  (
    process.env.BENCH_PARTS ??
    'tiers,bare,features,profile,sampled,backends,dbtls,transit,repltls,reload,deploys,memory,commands'
  )
    .split(',')
    .map((p) => p.trim()),
);

/** The tables as printed, kept beside the JSON. */
const printed: string[] = [];
function print(text: string): void {
  printed.push(text);
  process.stdout.write(`\n${text}\n`);
}

async function main(): Promise<void> {
  const missing = missingTools(PARTS);
  if (missing !== undefined) {
    process.stderr.write(`bench: ${missing}\n`);
    process.exitCode = 2;
    return;
  }
  // BENCH_KEEP=1 keeps the lab up afterwards, and a kept lab is used again as it is: it lives in
  // the same state directory every run (a new temporary one each run found the kept lab's
  // namespaces in the way, and stopped at preflight).
  const keep = process.env.BENCH_KEEP === '1';
  const name = process.env.BENCH_LAB ?? 'fbb';
  const kept = keep ? path.join(os.tmpdir(), `foobar-bench-${name}`) : undefined;
  if (kept !== undefined) mkdirSync(kept, { recursive: true });
  // A lab of its own, beside a running lab and a running npm test.
  const lab = createTestLab(
    {},
    { name, net: process.env.BENCH_NET ?? '10.80' },
    kept === undefined ? undefined : { stateDir: kept, tag: 'bench' },
  );
  const web = 'web-01';
  // Through the load balancers as users come: the name, over HTTPS (wrk does not check the
  // certificate; the rate limit exempts the test lab's client).
  const site = siteUrl(lab.model).slice(0, -1);
  if (!keep) await lab.down();
  process.stdout.write(`bench: bringing up lab ${lab.model.lab.name}\n`);
  await lab.up();
  try {
    // Settled: the first scrapes and the apps' first requests are behind.
    await sleep(5000);
    const memoryAfterUp = await labMemory(lab.ctx);
    const logWatch = await watchLogs(lab.ctx);
    const release = await liveRelease(lab.ctx, web);
    const asset = `/static/${release ?? ''}/app.css`;
    const app = lab.model.ports.app;
    const tiers = (name: string, route: string): Case[] => [
      {
        name: `${name}, direct`,
        host: web,
        url: `http://127.0.0.1:${app}${route}`,
        baseline: `${name}, direct`,
      },
      {
        name: `${name}, via Nginx`,
        host: web,
        url: `http://127.0.0.1${route}`,
        baseline: `${name}, direct`,
      },
      {
        name: `${name}, via LB`,
        host: 'client',
        url: `${site}${route}`,
        baseline: `${name}, direct`,
      },
    ];
    const cases: Case[] = [
      {
        name: 'static, Nginx direct',
        host: web,
        url: `http://127.0.0.1${asset}`,
        baseline: 'static, Nginx direct',
      },
      {
        name: 'static, via LB',
        host: 'client',
        url: `${site}${asset}`,
        baseline: 'static, Nginx direct',
      },
      // The app in three tiers: its home page (rendered, no database) and /api/whoami, which
      // asks the primary and a replica who they are on every request (database-bound).
      ...tiers('app page /', '/'),
      ...tiers('app /api/whoami (db)', '/api/whoami'),
    ];
    const results = new Map<string, WrkResult>();
    for (const c of PARTS.has('tiers') ? cases : []) {
      process.stdout.write(`bench: ${c.name} (${OPTIONS.seconds} s)\n`);
      results.set(c.name, await measure(lab, c));
    }
    const rows: Measured[] = cases
      .filter((c) => results.has(c.name))
      .map((c) => {
        const result = results.get(c.name);
        const base = results.get(c.baseline);
        if (result === undefined || base === undefined) throw new Error(`no result for ${c.name}`);
        return { ...c, ...result, ratio: result.requestsPerSecond / base.requestsPerSecond };
      });
    if (rows.length > 0) print(table(rows));
    const comparisons = PARTS.has('bare') ? await againstBare(lab, asset) : [];
    if (comparisons.length > 0) print(comparisonTable(comparisons));
    const backends = PARTS.has('backends') ? await againstPlainBackends(lab, asset) : [];
    if (backends.length > 0) print(comparisonTable(backends));
    const features = PARTS.has('features') ? await whereTheDifferenceGoes(lab, asset) : [];
    if (features.length > 0) print(comparisonTable(features));
    const profiles = PARTS.has('profile') ? await profileTheDifference(lab, asset) : [];
    for (const [i, { what }] of PROFILE_LOADS.entries()) {
      const one = profiles[i];
      if (one !== undefined)
        print(
          formatProfiles(
            `HAProxy's instructions a request in user space (callgrind, ${PROFILE_REQUESTS} requests over 4 connections, health checks off): ${what}`,
            one,
          ),
        );
    }
    const sampled = PARTS.has('sampled') ? await sampleTheDifference(lab, asset) : [];
    for (const { what, bare, ours } of sampled)
      print(
        formatSampled(
          `Where HAProxy's CPU goes, kernel included (perf: a sample every ${SAMPLE_PERIOD_NS / 1000} µs of its CPU time; ${what}, ${ROUNDS} interleaved rounds of ${OPTIONS.seconds} s each)`,
          bare,
          ours,
        ),
      );
    let dbTls;
    if (PARTS.has('dbtls')) {
      process.stdout.write('bench: TLS on the database hop against clear text\n');
      dbTls = await dbTlsCost(lab);
      print(formatDbTls(dbTls));
    }
    let transit;
    if (PARTS.has('transit')) {
      transit = await transitCost(lab.ctx, {
        streamBytes: Number(process.env.BENCH_STREAM_MIB ?? 1024) * 2 ** 20,
      });
      print(formatTransit(transit));
    }
    let replTls;
    if (PARTS.has('repltls')) {
      process.stdout.write(
        'bench: replication between the database servers, TLS against clear text\n',
      );
      replTls = await replTlsCost(lab.ctx, {
        backlogMib: Number(process.env.BENCH_REPL_MIB ?? 128),
        rounds: Number(process.env.BENCH_REPL_ROUNDS ?? 5),
      });
      print(formatRepl(replTls));
    }
    let reload;
    if (PARTS.has('reload')) {
      process.stdout.write('bench: a HAProxy reload under load\n');
      reload = await reloadUnderLoad(lab, asset);
      print(
        `HAProxy reload on ${reload.host} under load (${reload.reloadMs} ms): ${reload.during.errors} failed${reload.during.errorKinds === undefined ? '' : ` (${reload.during.errorKinds})`} of ${reload.during.requests}; p99 ${reload.during.p99Ms.toFixed(2)} ms against ${reload.quiet.p99Ms.toFixed(2)} ms without a reload`,
      );
    }
    const deploys = [];
    for (const strategy of PARTS.has('deploys') ? STRATEGIES : []) {
      process.stdout.write(`bench: ${strategy} deploy under load\n`);
      deploys.push(await deployUnderLoad(lab, strategy));
    }
    if (deploys.length > 0)
      print(
        deploys
          .map(
            (d) =>
              `deploy (${d.strategy}) to ${d.servers} web servers: ${d.seconds.toFixed(2)} s, ${d.failed} failed of ${d.requests} requests during it`,
          )
          .join('\n'),
      );
    const memoryAfterLoad = await labMemory(lab.ctx);
    print(
      `lab memory after up: ${describeMemory(memoryAfterUp)}\nlab memory after the load: ${describeMemory(memoryAfterLoad)}`,
    );
    let bareMemory;
    if (PARTS.has('memory')) {
      // Ours idle too, as the bare ones are: what the load left once the daemons had time to
      // give back what they collect lazily (V8's memory reducer, Go's scavenger).
      process.stdout.write(`bench: the lab idle for ${BARE_MEMORY_IDLE_MS / 1000} s\n`);
      await sleep(BARE_MEMORY_IDLE_MS);
      const idle = await labMemory(lab.ctx);
      print(`lab memory ${BARE_MEMORY_IDLE_MS / 1000} s after the load: ${describeMemory(idle)}`);
      process.stdout.write(
        'bench: each kind of daemon started bare, for the memory it costs anyway\n',
      );
      const dir = path.join(hostPaths(lab.model, 'client').root, 'bare-memory');
      const cases = bareMemoryCases(dir, runtimeOf(lab.model), BARE_MEMORY_PORT);
      const bare = await measureBareMemory(
        lab.ctx.driver,
        'client',
        dir,
        cases,
        BARE_MEMORY_SETTLE_MS,
      );
      bareMemory = { idle, bare, rows: againstBareMemory(idle, bare) };
      print(formatBareMemory(bareMemory.rows, BARE_MEMORY_SETTLE_MS));
    }
    let soakResult;
    if (PARTS.has('soak')) {
      const options = soakOptions(process.env);
      process.stdout.write(
        `bench: soak, ${options.warmupMinutes} min warm-up then ${options.minutes} min of steady load\n`,
      );
      soakResult = await soak(lab.ctx, options, (line) => process.stdout.write(`${line}\n`));
      print(soakResult.table);
    }
    // Before the commands part, whose cold `up`s take the lab down and up again.
    const logs = await logWatch.stop();
    print(formatLogCap(logs));
    let commands;
    if (PARTS.has('commands')) {
      process.stdout.write('bench: the commands, 5 runs each (a cold up: 3, after a down)\n');
      commands = await measureCommands(lab.configFile, 5, 3);
      print(formatTimings(commands));
    }
    const report = {
      when: new Date().toISOString(),
      wrk: OPTIONS,
      rounds: ROUNDS,
      cases: rows,
      comparisons,
      backends,
      features,
      profiles: profiles.map((list, i) => ({
        load: PROFILE_LOADS[i]?.what,
        haproxys: list.map((p) => ({
          name: p.name,
          requests: p.requests,
          instructions: p.counts.total,
          byObject: Object.fromEntries(p.counts.byObject),
        })),
      })),
      sampled: sampled.map(({ what, bare, ours }) => ({
        load: what,
        haproxys: [bare, ours].map((one) => ({
          name: one.name,
          requests: one.requests,
          usPerRequest: Object.fromEntries(byObject(one).map(({ object, us }) => [object, us])),
          rows: one.rows.filter((row) => row.samples >= 10),
        })),
      })),
      dbTls,
      transit,
      replTls,
      reload,
      deploys,
      commands,
      soak: soakResult,
      memory: { afterUp: memoryAfterUp, afterLoad: memoryAfterLoad, bare: bareMemory },
      logs,
    };
    const dir = path.join(import.meta.dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `bench-${report.when.replaceAll(':', '-')}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(file.replace(/\.json$/, '.txt'), `${printed.join('\n\n')}\n`);
    process.stdout.write(`\nbench: JSON and tables in ${file.replace(/\.json$/, '.{json,txt}')}\n`);
  } finally {
    if (!keep) {
      await lab.down(true);
      lab.removeConfig();
    }
    removeAppVariants();
  }
}

await main();
