import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpuTicks, type ScrapeLoad, type ScrapeRound } from './transit-scrape.ts';
import { streamsOf, type Received, type StreamRound } from './transit-stream.ts';
import {
  formatScrapes,
  formatStreams,
  formatTransit,
  receivedPerRound,
  summarizeScrapes,
  summarizeStream,
} from './transit.ts';

const load = (scrapes: number, cpuSeconds: number, bytes = 9000): ScrapeLoad => ({
  scrapes,
  seconds: 4,
  cpuSeconds,
  bytes,
});

const scrapeRounds: ScrapeRound[] = [
  {
    tls: { kept: load(400, 2), fresh: load(100, 1) },
    clear: { kept: load(500, 2), fresh: load(400, 2) },
  },
  {
    tls: { kept: load(360, 1.8), fresh: load(120, 1.2) },
    clear: { kept: load(400, 2), fresh: load(400, 2) },
  },
  {
    tls: { kept: load(450, 2.25), fresh: load(80, 0.8) },
    clear: { kept: load(500, 2.5), fresh: load(400, 2) },
  },
];

describe('the exporters’ TLS cost', () => {
  it('reads utime + stime from /proc/PID/stat, whatever the command’s name holds', () => {
    const stat =
      '4242 (prometheus-node) exp) S 1 4242 4242 0 -1 4194560 1200 0 3 0 1234 567 0 0 20 0 9 0 100 0 0';
    assert.equal(cpuTicks(stat), 1234 + 567);
    assert.throws(() => cpuTicks('garbage'), /not a \/proc\/PID\/stat line/);
  });

  it('gives scrapes a second TLS ÷ clear per load, and the exporter’s CPU per 1,000 scrapes', () => {
    const { kept, fresh, bytes } = summarizeScrapes(scrapeRounds);
    assert.deepEqual(kept.rate.ratios, [0.8, 0.9, 0.9]);
    assert.equal(kept.rate.median, 0.9);
    assert.equal(kept.rate.min, 0.8);
    assert.equal(kept.rate.a, 100);
    assert.equal(kept.rate.b, 125);
    assert.deepEqual(kept.cpuPer1000, { tls: 5, clear: 5 });
    assert.equal(fresh.rate.median, 0.25);
    assert.deepEqual(fresh.cpuPer1000, { tls: 10, clear: 5 });
    assert.deepEqual(bytes, { tls: 9000, clear: 9000 });
    assert.throws(() => summarizeScrapes([]), /no round/);
  });

  it('prints one row per load', () => {
    const text = formatScrapes({
      host: 'web-01',
      from: 'mon',
      seconds: 4,
      rounds: scrapeRounds,
      ...summarizeScrapes(scrapeRounds),
    });
    assert.match(text, /mon → web-01.*3 rounds of 4 s; 9000 bytes a scrape/);
    assert.match(
      text,
      /one kept-alive connection\s+100\s+125\s+0\.90 \(0\.80–0\.90\)\s+5\.00 \/ 5\.00/,
    );
    assert.match(
      text,
      /a new connection per scrape\s+25\s+100\s+0\.25 \(0\.20–0\.30\)\s+10\.00 \/ 5\.00/,
    );
  });
});

const MB = 1e6;
const leg = (seconds: number, cpuSeconds: number, cipher?: string) => ({
  bytes: 500 * MB,
  seconds,
  cpuSeconds,
  ...(cipher === undefined ? {} : { cipher }),
});
const streamRounds: StreamRound[] = [
  { tls: leg(2, 1, 'TLS_AES_256_GCM_SHA384'), clear: leg(1, 0.5) },
  { tls: leg(2.5, 1, 'TLS_AES_256_GCM_SHA384'), clear: leg(1, 0.5) },
];
const got = (tls: boolean, cpuSeconds: number): Received => ({
  tls,
  bytes: 500 * MB,
  cpuSeconds,
});
// As sent: the warm-ups (TLS, clear), round 1 TLS first, round 2 clear first.
const received = [
  got(true, 9),
  got(false, 9),
  got(true, 1),
  got(false, 0.25),
  got(false, 0.25),
  got(true, 1.5),
];

describe('the backup stream’s TLS cost', () => {
  it('sends a warm-up each way and one stream each way a round', () => {
    assert.equal(streamsOf(5), 12);
  });

  it('pairs the receiver’s streams with the rounds, warm-ups left out', () => {
    const pairs = receivedPerRound(received, 2);
    assert.deepEqual(
      pairs.map((p) => [p.tls.cpuSeconds, p.clear.cpuSeconds]),
      [
        [1, 0.25],
        [1.5, 0.25],
      ],
    );
    assert.throws(() => receivedPerRound(received.slice(0, 4), 2), /took 4 streams, not the 6/);
  });

  it('gives MB/s TLS ÷ clear and each end’s CPU per GB', () => {
    const s = summarizeStream(streamRounds, received);
    assert.deepEqual(s.rate.ratios, [0.5, 0.4]);
    assert.equal(s.rate.median, 0.45);
    assert.equal(s.rate.a, 225);
    assert.equal(s.rate.b, 500);
    assert.deepEqual(s.senderCpuPerGb, { tls: 2, clear: 1 });
    assert.deepEqual(s.receiverCpuPerGb, { tls: 2.5, clear: 0.5 });
    assert.equal(s.cipher, 'TLS_AES_256_GCM_SHA384');
  });

  it('prints one row per way the backup host takes it', () => {
    const cost = {
      from: 'db-02',
      to: 'backup',
      sink: 'discard' as const,
      bytes: 256 * 2 ** 20,
      rounds: streamRounds,
      received,
      ...summarizeStream(streamRounds, received),
    };
    const text = formatStreams([cost, { ...cost, sink: 'seal' }]);
    assert.match(text, /db-02 → backup.*TLS_AES_256_GCM_SHA384, 256 MiB .* 2 rounds/);
    assert.match(
      text,
      /discarded \(the transport\)\s+225\s+500\s+0\.45 \(0\.40–0\.50\)\s+2\.00 \/ 1\.00\s+2\.50 \/ 0\.50/,
    );
    assert.match(text, /sealed as the agent stores it/);
    assert.equal(formatStreams([]), '');
  });

  it('prints both hops and the machine’s load average', () => {
    const scrape = {
      host: 'web-01',
      from: 'mon',
      seconds: 4,
      rounds: scrapeRounds,
      ...summarizeScrapes(scrapeRounds),
    };
    const stream = {
      from: 'db-02',
      to: 'backup',
      sink: 'seal' as const,
      bytes: 2 ** 30,
      rounds: streamRounds,
      received,
      ...summarizeStream(streamRounds, received),
    };
    const text = formatTransit({
      scrape,
      streams: [stream],
      loadAverage: { before: 4.23, after: 5.81 },
    });
    assert.match(text, /node exporter[^]*1024 MiB[^]*\(load average 4\.2 before, 5\.8 after\)$/);
  });
});
