/**
 * Runs on the monitor (bench/transit.ts starts it): scrapes two node exporters on one host back to
 * back, ours over TLS (verified by the host's name against the lab's CA, TLS 1.3, as Prometheus
 * scrapes it) and one in clear text beside it with the same collectors, in interleaved rounds.
 * Two loads each: scrapes on one kept-alive connection, as a running Prometheus scrapes a target,
 * and a new connection per scrape with no session resumed, as a Prometheus that has just started
 * (Prometheus's Go client keeps no TLS session cache). Each scrape asks what Prometheus asks
 * (its Accept and gzip) and reads the whole body. Around each load it reads the exporter's CPU
 * time (utime + stime of /proc/PID/stat, every thread's). Its settings come on standard input; it
 * prints the rounds as JSON.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { warmThenAlternate } from './compare.ts';

export interface ScrapeTarget {
  readonly address: string;
  readonly port: number;
  /** The exporter's PID (the lab's hosts share the PID space). */
  readonly pid: number;
}

export interface ScrapeSettings {
  readonly tls: ScrapeTarget & { readonly serverName: string; readonly ca: string };
  readonly clear: ScrapeTarget;
  readonly seconds: number;
  readonly rounds: number;
  /** The kernel's clock ticks per second (getconf CLK_TCK). */
  readonly ticksPerSecond: number;
}

export interface ScrapeLoad {
  readonly scrapes: number;
  readonly seconds: number;
  /** The exporter's CPU time during the load. */
  readonly cpuSeconds: number;
  /** The last scrape's body (gzip), bytes. */
  readonly bytes: number;
}

export interface ScrapeFigures {
  readonly kept: ScrapeLoad;
  readonly fresh: ScrapeLoad;
}

export interface ScrapeRound {
  readonly tls: ScrapeFigures;
  readonly clear: ScrapeFigures;
}

/** utime + stime, in clock ticks, from the text of /proc/PID/stat (after the command's name). */
export function cpuTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5), counted from the state (field 3) here.
  const [utime, stime] = [Number(fields[11]), Number(fields[12])];
  if (!Number.isInteger(utime) || !Number.isInteger(stime))
    throw new Error(`not a /proc/PID/stat line: ${stat.slice(0, 80)}`);
  return utime + stime;
}

/** What Prometheus 2.42 asks an exporter for. */
const HEADERS = {
  accept:
    'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
  'accept-encoding': 'gzip',
  'user-agent': 'Prometheus/2.42.0',
  'x-prometheus-scrape-timeout-seconds': '10',
};

function scrape(
  settings: ScrapeSettings,
  tls: boolean,
  agent: http.Agent | https.Agent,
): Promise<number> {
  const target = tls ? settings.tls : settings.clear;
  const common = {
    host: target.address,
    port: target.port,
    path: '/metrics',
    headers: HEADERS,
    timeout: 10_000,
  };
  return new Promise((resolve, reject) => {
    const done = (response: http.IncomingMessage): void => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      response.on('end', () => {
        if (response.statusCode === 200) resolve(bytes);
        else reject(new Error(`${target.address}:${target.port} answered ${response.statusCode}`));
      });
      response.on('error', reject);
    };
    const request = tls
      ? https.get(
          {
            ...common,
            agent: agent as https.Agent,
            servername: settings.tls.serverName,
            ca: ca ?? (ca = readFileSync(settings.tls.ca)),
            minVersion: 'TLSv1.3',
          },
          done,
        )
      : http.get({ ...common, agent }, done);
    request.on('timeout', () => request.destroy(new Error('scrape timed out')));
    request.on('error', reject);
  });
}
let ca: Buffer | undefined;

function cpuSecondsOf(settings: ScrapeSettings, pid: number): number {
  return cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / settings.ticksPerSecond;
}

async function load(settings: ScrapeSettings, tls: boolean, keepAlive: boolean) {
  // Kept alive: one connection, as Prometheus keeps one to each target. Fresh: a connection per
  // scrape, and no TLS session cache, so every one is a full handshake.
  const options = { keepAlive, maxSockets: 1, ...(keepAlive ? {} : { maxCachedSessions: 0 }) };
  const agent = tls ? new https.Agent(options) : new http.Agent(options);
  const pid = tls ? settings.tls.pid : settings.clear.pid;
  try {
    const cpuBefore = cpuSecondsOf(settings, pid);
    const started = Date.now();
    const until = started + settings.seconds * 1000;
    let scrapes = 0;
    let bytes = 0;
    while (Date.now() < until) {
      bytes = await scrape(settings, tls, agent);
      scrapes++;
    }
    const seconds = (Date.now() - started) / 1000;
    return { scrapes, seconds, cpuSeconds: cpuSecondsOf(settings, pid) - cpuBefore, bytes };
  } finally {
    agent.destroy();
  }
}

async function figures(settings: ScrapeSettings, tls: boolean): Promise<ScrapeFigures> {
  return { kept: await load(settings, tls, true), fresh: await load(settings, tls, false) };
}

async function main(): Promise<void> {
  const settings = JSON.parse(readFileSync(0, 'utf8')) as ScrapeSettings;
  // A warm-up of both first, not counted.
  const rounds: ScrapeRound[] = (await warmThenAlternate(settings, 1, figures)).map(
    ([tls, clear]) => ({ tls, clear }),
  );
  process.stdout.write(`${JSON.stringify(rounds)}\n`);
}

if (import.meta.main) await main();
