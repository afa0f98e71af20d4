/**
 * What encryption in transit costs on the two hops of issue 12 that the other parts do not
 * measure, each against clear text between the same two hosts, in interleaved rounds:
 *
 * - Prometheus → the exporters: our node exporter on a web server (TLS 1.3 by its web config)
 *   against a second one the bench starts beside it on a port of its own, the same command
 *   without the web config (clear text), both scraped from the monitor (bench/transit-scrape.ts):
 *   on a kept-alive connection, and a new connection per scrape; with the exporters' CPU time.
 * - The full backup's stream, a replica → the backup host (bench/transit-stream.ts): Node's TLS
 *   with the agent's and `send`'s own options and certificates against plain TCP, the same bytes
 *   (incompressible), received and discarded, then received and sealed as the agent stores them.
 *
 * The firewalls admit neither of the bench's ports: it opens them for the run, between those two
 * hosts only, and closes them after (bench/firewall.ts); the clear exporter is stopped.
 */
import os from 'node:os';
import path from 'node:path';
import { backupHost } from '../src/model/backup.ts';
import { hostPaths } from '../src/model/layout.ts';
import { addressOf, hostsWithRole, type Host } from '../src/model/model.ts';
import { monitorHost, scrapeAddress, scrapeServerName } from '../src/model/monitoring.ts';
import { coreName, transitFiles, trustedCa } from '../src/model/transit.ts';
import { expectStatus } from '../src/probes/http.ts';
import type { Context } from '../src/steps/context.ts';
import { ensureDaemon, runningPid, stopDaemon, type Daemon } from '../src/steps/daemon.ts';
import { readDbState, replicasOf } from '../src/steps/db/state.ts';
import { nodeExporterDaemon } from '../src/steps/monitoring.ts';
import { formatTable, median, pairedRatio, type PairedRatio } from './compare.ts';
import { openCorePorts } from './firewall.ts';
import { runScript } from './remote.ts';
import type { ScrapeLoad, ScrapeRound, ScrapeSettings } from './transit-scrape.ts';
import {
  streamsOf,
  type Received,
  type StreamLeg,
  type StreamRound,
  type StreamSettings,
} from './transit-stream.ts';

const SCRAPER = path.join(import.meta.dirname, 'transit-scrape.ts');
const STREAMER = path.join(import.meta.dirname, 'transit-stream.ts');

/** The bench's ports: ours + this, outside every flow of the model. */
const PORT_OFFSET = 10_000;

/** TLS and clear text side by side, each side's median. */
export interface Sides {
  readonly tls: number;
  readonly clear: number;
}

export interface ScrapeLoadCost {
  /** Scrapes a second, TLS ÷ clear. */
  readonly rate: PairedRatio;
  /** The exporter's CPU seconds per 1,000 scrapes. */
  readonly cpuPer1000: Sides;
}

export interface ScrapeCost {
  readonly host: string;
  readonly from: string;
  readonly seconds: number;
  readonly rounds: readonly ScrapeRound[];
  /** A scrape's body as sent (gzip), bytes. */
  readonly bytes: Sides;
  readonly kept: ScrapeLoadCost;
  readonly fresh: ScrapeLoadCost;
}

export interface StreamCost {
  readonly from: string;
  readonly to: string;
  readonly sink: StreamSettings['sink'];
  /** Bytes a stream. */
  readonly bytes: number;
  readonly cipher: string;
  readonly rounds: readonly StreamRound[];
  readonly received: readonly Received[];
  /** MB (10^6 bytes) a second, TLS ÷ clear. */
  readonly rate: PairedRatio;
  /** CPU seconds per GB (10^9 bytes) of each end. */
  readonly senderCpuPerGb: Sides;
  readonly receiverCpuPerGb: Sides;
}

export interface TransitCost {
  readonly scrape: ScrapeCost;
  readonly streams: readonly StreamCost[];
  /** This machine's one-minute load average before and after the part. */
  readonly loadAverage: { readonly before: number; readonly after: number };
}

function sides<R>(rounds: readonly R[], pick: (round: R, tls: boolean) => number): Sides {
  return {
    tls: median(rounds.map((r) => pick(r, true))),
    clear: median(rounds.map((r) => pick(r, false))),
  };
}

function loadCost(
  name: string,
  rounds: readonly ScrapeRound[],
  load: 'kept' | 'fresh',
): ScrapeLoadCost {
  const rate = (l: ScrapeLoad): number => l.scrapes / l.seconds;
  return {
    rate: pairedRatio(
      name,
      rounds,
      (r) => rate(r.tls[load]),
      (r) => rate(r.clear[load]),
    ),
    cpuPer1000: sides(rounds, (r, tls) => {
      const l = (tls ? r.tls : r.clear)[load];
      return (l.cpuSeconds / l.scrapes) * 1000;
    }),
  };
}

/** Both loads' ratios and CPU costs from the scraper's rounds. */
export function summarizeScrapes(
  rounds: readonly ScrapeRound[],
): Pick<ScrapeCost, 'kept' | 'fresh' | 'bytes'> {
  if (rounds.length === 0) throw new Error('the scraper measured no round');
  return {
    kept: loadCost('one kept-alive connection', rounds, 'kept'),
    fresh: loadCost('a new connection per scrape', rounds, 'fresh'),
    bytes: sides(rounds, (r, tls) => (tls ? r.tls : r.clear).kept.bytes),
  };
}

/**
 * The receiver's CPU time for each round's streams: its streams come in the order sent (a warm-up
 * each way first, then each round's two in either order), so each kind's are in round order.
 */
export function receivedPerRound(
  received: readonly Received[],
  rounds: number,
): { tls: Received; clear: Received }[] {
  const ofKind = (tls: boolean): Received[] => received.filter((r) => r.tls === tls).slice(1);
  const [secure, clear] = [ofKind(true), ofKind(false)];
  if (secure.length !== rounds || clear.length !== rounds)
    throw new Error(
      `the receiver took ${received.length} streams, not the ${streamsOf(rounds)} sent`,
    );
  return secure.flatMap((tls, i) => {
    const other = clear[i];
    return other === undefined ? [] : [{ tls, clear: other }];
  });
}

export function summarizeStream(
  rounds: readonly StreamRound[],
  received: readonly Received[],
): Pick<StreamCost, 'rate' | 'senderCpuPerGb' | 'receiverCpuPerGb' | 'cipher'> {
  if (rounds.length === 0) throw new Error('the stream measured no round');
  const mbps = (leg: StreamLeg): number => leg.bytes / 1e6 / leg.seconds;
  const taken = receivedPerRound(received, rounds.length);
  return {
    rate: pairedRatio(
      'MB/s',
      rounds,
      (r) => mbps(r.tls),
      (r) => mbps(r.clear),
    ),
    senderCpuPerGb: sides(rounds, (r, tls) => {
      const leg = tls ? r.tls : r.clear;
      return leg.cpuSeconds / (leg.bytes / 1e9);
    }),
    receiverCpuPerGb: sides(taken, (r, tls) => {
      const leg = tls ? r.tls : r.clear;
      return leg.cpuSeconds / (leg.bytes / 1e9);
    }),
    cipher: rounds[0]?.tls.cipher ?? 'unknown',
  };
}

const spread = (r: PairedRatio): string =>
  `${r.median.toFixed(2)} (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
const pair = (s: Sides, digits: number): string =>
  `${s.tls.toFixed(digits)} / ${s.clear.toFixed(digits)}`;

export function formatScrapes(cost: ScrapeCost): string {
  const row = (load: ScrapeLoadCost): string[] => [
    load.rate.name,
    load.rate.a.toFixed(0),
    load.rate.b.toFixed(0),
    spread(load.rate),
    pair(load.cpuPer1000, 2),
  ];
  return [
    `Prometheus → node exporter over TLS ÷ clear text (${cost.from} → ${cost.host}, one scrape after another, ${cost.rounds.length} rounds of ${cost.seconds} s; ${cost.bytes.tls.toFixed(0)} bytes a scrape, gzip):`,
    formatTable(
      [
        'load',
        'TLS scrapes/s',
        'clear scrapes/s',
        'TLS ÷ clear (spread)',
        'exporter CPU s per 1,000 scrapes, TLS / clear',
      ],
      [row(cost.kept), row(cost.fresh)],
    ),
  ].join('\n');
}

const SINKS: Readonly<Record<StreamSettings['sink'], string>> = {
  discard: 'received and discarded (the transport)',
  seal: 'received and sealed as the agent stores it',
};

export function formatStreams(streams: readonly StreamCost[]): string {
  const [first] = streams;
  if (first === undefined) return '';
  return [
    `The full backup's stream over mutual TLS 1.3 ÷ clear text (${first.from} → ${first.to}, Node's tls against net, ${first.cipher}, ${(first.bytes / 2 ** 20).toFixed(0)} MiB of random bytes a stream, ${first.rounds.length} rounds):`,
    formatTable(
      [
        'the backup host’s end',
        'TLS MB/s',
        'clear MB/s',
        'TLS ÷ clear (spread)',
        'CPU s/GB sender, TLS / clear',
        'receiver, TLS / clear',
      ],
      streams.map((s) => [
        SINKS[s.sink],
        s.rate.a.toFixed(0),
        s.rate.b.toFixed(0),
        spread(s.rate),
        pair(s.senderCpuPerGb, 2),
        pair(s.receiverCpuPerGb, 2),
      ]),
    ),
  ].join('\n');
}

/** Our node exporter's command, on a port of the bench's, without its web config: clear text. */
function clearNodeExporter(ctx: Context, host: Host, port: number): Daemon {
  const ours = nodeExporterDaemon(ctx, host);
  const paths = hostPaths(ctx.model, host.name);
  const listen = `${scrapeAddress(host)}:${port}`;
  const service = 'node-exporter-bench-clear';
  return {
    service,
    host: host.name,
    pidFile: path.join(paths.run, `${service}.pid`),
    marker: listen,
    files: [],
    dirs: ours.dirs,
    start: {
      argv: ours.start.argv
        .filter((arg) => !arg.startsWith('--web.config.file='))
        .map((arg) =>
          arg.startsWith('--web.listen-address=') ? `--web.listen-address=${listen}` : arg,
        ),
    },
    ...(ours.user === undefined ? {} : { user: ours.user }),
    ...(ours.env === undefined ? {} : { env: ours.env }),
    outputLog: path.join(paths.log, `${service}.log`),
    stopSignal: 'TERM',
    ports: [port],
    probe: (c) => expectStatus(c.driver, host.name, `http://${listen}/metrics`),
    logs: [],
  };
}

async function scrapeCost(ctx: Context, seconds: number, rounds: number): Promise<ScrapeCost> {
  const mon = monitorHost(ctx.model);
  const [host] = hostsWithRole(ctx.model, 'web');
  if (mon === undefined || host === undefined)
    throw new Error('the exporters’ TLS needs a monitor and a web server');
  const port = ctx.model.ports.nodeExporter + PORT_OFFSET;
  const ours = nodeExporterDaemon(ctx, host);
  const clear = clearNodeExporter(ctx, host, port);
  const close = await openCorePorts(ctx, mon, host, [port]);
  try {
    await ensureDaemon(ctx, clear);
    const pids = await Promise.all([runningPid(ctx, ours), runningPid(ctx, clear)]);
    const [tlsPid, clearPid] = pids;
    if (tlsPid === undefined || clearPid === undefined)
      throw new Error(`${host.name}: a node exporter is not running`);
    const ticks = await ctx.driver.exec(mon.name, { argv: ['getconf', 'CLK_TCK'], readOnly: true });
    const settings: ScrapeSettings = {
      tls: {
        address: scrapeAddress(host),
        port: ctx.model.ports.nodeExporter,
        pid: tlsPid,
        serverName: scrapeServerName(ctx.model, host),
        ca: trustedCa(hostPaths(ctx.model, mon.name)),
      },
      clear: { address: scrapeAddress(host), port, pid: clearPid },
      seconds,
      rounds,
      ticksPerSecond: Number(ticks.stdout.trim()),
    };
    const measured = await runScript<ScrapeRound[]>(ctx, mon.name, SCRAPER, settings);
    return {
      host: host.name,
      from: mon.name,
      seconds,
      rounds: measured,
      ...summarizeScrapes(measured),
    };
  } finally {
    await stopDaemon(ctx, clear);
    await close();
  }
}

async function streamCost(
  ctx: Context,
  bytes: number,
  rounds: number,
  sinks: readonly StreamSettings['sink'][],
): Promise<StreamCost[]> {
  const state = await readDbState(ctx);
  const [replica] = replicasOf(ctx, state);
  const backup = backupHost(ctx.model);
  if (replica === undefined || backup === undefined)
    throw new Error('the backup stream’s TLS needs a replica and a backup host');
  const tlsPort = ctx.model.ports.backupStream + PORT_OFFSET;
  const clearPort = tlsPort + 1;
  const backupPaths = hostPaths(ctx.model, backup.name);
  const senderFiles = transitFiles(hostPaths(ctx.model, replica.name), 'backup-sender');
  const common = {
    address: addressOf(backup, 'core'),
    tlsPort,
    clearPort,
    serverName: coreName(ctx.model, backup),
    bytes,
    rounds,
    // At 10 MB/s, and a minute more.
    deadlineMs: (streamsOf(rounds) * bytes) / 1e4 + 60_000,
  };
  const close = await openCorePorts(ctx, replica, backup, [tlsPort, clearPort]);
  try {
    const costs: StreamCost[] = [];
    for (const sink of sinks) {
      process.stdout.write(`bench: the backup stream, ${sink}\n`);
      const receiverSettings: StreamSettings = {
        ...common,
        sink,
        files: transitFiles(backupPaths, 'exporters'),
        dir: backupPaths.run,
      };
      const senderSettings: StreamSettings = { ...common, sink, files: senderFiles };
      const timeoutMs = common.deadlineMs + 30_000;
      const receiving = ctx.driver.exec(
        backup.name,
        {
          argv: [process.execPath, STREAMER, 'receive'],
          input: JSON.stringify(receiverSettings),
          timeoutMs,
        },
        { check: false },
      );
      const sent = await ctx.driver.exec(
        replica.name,
        {
          argv: [process.execPath, STREAMER, 'send'],
          input: JSON.stringify(senderSettings),
          timeoutMs,
        },
        { check: false },
      );
      const taken = await receiving;
      if (sent.exitCode !== 0 || taken.exitCode !== 0)
        throw new Error(
          `the backup stream's bench failed: sender (${replica.name}) exit ${sent.exitCode}: ${sent.stderr.trim()}; receiver (${backup.name}) exit ${taken.exitCode}: ${taken.stderr.trim()}`,
        );
      const measured = JSON.parse(sent.stdout) as StreamRound[];
      const received = JSON.parse(taken.stdout) as Received[];
      costs.push({
        from: replica.name,
        to: backup.name,
        sink,
        bytes,
        rounds: measured,
        received,
        ...summarizeStream(measured, received),
      });
    }
    return costs;
  } finally {
    await close();
  }
}

/**
 * Both hops. Scrapes take milliseconds, so their rounds are short and many (a machine whose load
 * swings weighs on both sides of a round alike); a stream of 1 GiB takes seconds.
 */
export async function transitCost(
  ctx: Context,
  {
    scrapeSeconds = 2,
    scrapeRounds = 9,
    streamBytes = 2 ** 30,
    streamRounds = 5,
    sinks = ['discard', 'seal'] as const,
  }: {
    scrapeSeconds?: number;
    scrapeRounds?: number;
    streamBytes?: number;
    streamRounds?: number;
    sinks?: readonly StreamSettings['sink'][];
  } = {},
): Promise<TransitCost> {
  const before = os.loadavg()[0] ?? Number.NaN;
  process.stdout.write('bench: Prometheus → node exporter, TLS against clear text\n');
  const scrape = await scrapeCost(ctx, scrapeSeconds, scrapeRounds);
  const streams = await streamCost(ctx, streamBytes, streamRounds, sinks);
  return { scrape, streams, loadAverage: { before, after: os.loadavg()[0] ?? Number.NaN } };
}

export function formatTransit(cost: TransitCost): string {
  const { before, after } = cost.loadAverage;
  return `${formatScrapes(cost.scrape)}\n\n${formatStreams(cost.streams)}\n(load average ${before.toFixed(1)} before, ${after.toFixed(1)} after)`;
}
