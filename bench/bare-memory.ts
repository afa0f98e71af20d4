/**
 * The lab's memory against its daemons bare: every kind of daemon the lab runs, started beside it
 * as it comes (the same Debian binary with Debian's defaults, or the lab's Node.js running
 * nothing, and only what it needs to start there), its private dirty memory read once it has
 * settled. Ours less as many bare ones as ours runs is what our configuration and our work hold
 * above what the processes cost anyway (or, below zero, what our tuning saves on Debian's
 * defaults): where a memory goal can be met by tuning, and where only fewer processes would.
 *
 * Private_Dirty (what a process wrote itself: heaps, stacks, data), neither PSS nor USS: a bare
 * process started beside ours shares their binaries' pages, and ours' binaries' pages were
 * private until it started. A bare Prometheus alone had 28 MB of its binary in its USS; beside
 * the lab's, none; ours, measured before, all of it (2026-12-07).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import type { Driver, Target } from '../src/drivers/driver.ts';
import { childPids } from '../src/probes/process.ts';
import { rollupOf, type KindMemory, type Memory } from './memory.ts';

/** One bare daemon: its kind as `kindOf` names ours ('node' stands for every kind of ours on Node). */
export interface BareMemoryCase {
  readonly kind: string;
  readonly argv: readonly string[];
  readonly files: readonly { readonly path: string; readonly content: string }[];
  /** Run before it starts (a database's first data directory). */
  readonly setup: readonly (readonly string[])[];
}

/** The kind of ours that a bare case stands for: every Node.js process of ours against `node`. */
export function bareKindOf(kind: string): string {
  return kind.endsWith('(node)') ? 'node' : kind;
}

/**
 * The bare daemons, in `dir` (their files and data), listening on 127.0.0.1 from `port` up, Node.js
 * from `runtime`: each with Debian's defaults but for what it needs to start there.
 */
export function bareMemoryCases(dir: string, runtime: string, port: number): BareMemoryCase[] {
  const at = (name: string): string => path.join(dir, name);
  const listen = (offset: number): string => `127.0.0.1:${port + offset}`;
  const nginxPort = port + 6;
  return [
    {
      kind: 'node',
      argv: [runtime, '-e', 'setInterval(() => {}, 2 ** 30)'],
      files: [],
      setup: [],
    },
    {
      kind: 'mariadbd',
      argv: [
        'mariadbd',
        '--no-defaults',
        `--datadir=${at('mysql')}`,
        `--socket=${at('mysqld.sock')}`,
        `--pid-file=${at('mysqld.pid')}`,
        `--log-error=${at('mysqld.err')}`,
        '--skip-networking',
        '--user=root',
      ],
      files: [],
      setup: [
        [
          'mariadb-install-db',
          '--no-defaults',
          `--datadir=${at('mysql')}`,
          '--user=root',
          '--skip-test-db',
        ],
      ],
    },
    {
      kind: 'etcd',
      argv: [
        'etcd',
        '--name=bare',
        `--data-dir=${at('etcd')}`,
        `--listen-client-urls=http://${listen(0)}`,
        `--advertise-client-urls=http://${listen(0)}`,
        `--listen-peer-urls=http://${listen(1)}`,
        `--initial-advertise-peer-urls=http://${listen(1)}`,
        `--initial-cluster=bare=http://${listen(1)}`,
        '--log-level=warn',
      ],
      files: [],
      setup: [],
    },
    {
      kind: 'prometheus',
      argv: [
        'prometheus',
        `--config.file=${at('prometheus.yml')}`,
        `--storage.tsdb.path=${at('prometheus')}`,
        `--web.listen-address=${listen(2)}`,
      ],
      files: [{ path: at('prometheus.yml'), content: 'global:\n  scrape_interval: 15s\n' }],
      setup: [],
    },
    {
      kind: 'prometheus-alertmanager',
      argv: [
        'prometheus-alertmanager',
        `--config.file=${at('alertmanager.yml')}`,
        `--storage.path=${at('alertmanager')}`,
        `--web.listen-address=${listen(3)}`,
        '--cluster.listen-address=',
      ],
      files: [
        {
          path: at('alertmanager.yml'),
          content: 'route:\n  receiver: none\nreceivers:\n  - name: none\n',
        },
      ],
      setup: [],
    },
    {
      kind: 'prometheus-node-exporter',
      argv: ['prometheus-node-exporter', `--web.listen-address=${listen(4)}`],
      files: [],
      setup: [],
    },
    {
      kind: 'prometheus-blackbox-exporter',
      argv: [
        'prometheus-blackbox-exporter',
        `--config.file=${at('blackbox.yml')}`,
        `--web.listen-address=${listen(5)}`,
      ],
      files: [{ path: at('blackbox.yml'), content: 'modules:\n  http_2xx:\n    prober: http\n' }],
      setup: [],
    },
    {
      kind: 'nginx',
      argv: ['nginx', '-c', at('nginx.conf')],
      files: [
        {
          path: at('nginx.conf'),
          content: `daemon off;
worker_processes auto;
pid ${at('nginx.pid')};
error_log ${at('nginx.err')};
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:${nginxPort};
        location /stub_status { stub_status; }
        location / { return 200; }
    }
}
`,
        },
      ],
      setup: [],
    },
    {
      kind: 'prometheus-nginx-exporter',
      argv: [
        'prometheus-nginx-exporter',
        `-web.listen-address=${listen(7)}`,
        `-nginx.scrape-uri=http://127.0.0.1:${nginxPort}/stub_status`,
        '-nginx.retries=10',
        '-nginx.retry-interval=1s',
      ],
      files: [],
      setup: [],
    },
    {
      kind: 'prometheus-mysqld-exporter',
      argv: [
        'prometheus-mysqld-exporter',
        `--web.listen-address=${listen(8)}`,
        `--config.my-cnf=${at('exporter.cnf')}`,
      ],
      files: [
        {
          path: at('exporter.cnf'),
          content: `[client]\nuser=bare\npassword=bare\nsocket=${at('mysqld.sock')}\n`,
        },
      ],
      setup: [],
    },
    {
      kind: 'haproxy',
      argv: ['haproxy', '-W', '-db', '-f', at('haproxy.cfg')],
      files: [
        {
          path: at('haproxy.cfg'),
          content: `global
    maxconn 100

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s

frontend bare
    bind ${listen(9)}
    http-request return status 200
`,
        },
      ],
      setup: [],
    },
  ];
}

/** One bare daemon's memory once settled: its processes (a master's workers too). */
export interface BareKind {
  readonly kind: string;
  readonly processes: number;
  /** Private_Dirty, MB (what the comparison uses). */
  readonly dirtyMb: number;
  /** USS, MB (for the record: less its binary's pages that ours map too). */
  readonly ussMb: number;
  /** PSS beside the lab, MB (for the record; a share of pages ours map too). */
  readonly pssMb: number;
}

/** Stops a process group the bench started: TERM, then KILL after `graceMs`. */
async function stopGroup(pid: number, graceMs = 15_000): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(-pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await sleep(100);
  if (alive()) process.kill(-pid, 'SIGKILL');
}

/**
 * Starts every case on `host` at once (in `dir`), waits `settleMs`, reads each one's private dirty memory, USS and PSS
 * (its process and its children), and stops them all. A case that is no longer running then is
 * an error that quotes its output.
 */
export async function measureBareMemory(
  driver: Driver,
  host: Target,
  dir: string,
  cases: readonly BareMemoryCase[],
  settleMs: number,
): Promise<BareKind[]> {
  await driver.mkdir(host, dir);
  const started: { readonly bare: BareMemoryCase; readonly pid: number; readonly log: string }[] =
    [];
  try {
    for (const bare of cases) {
      for (const file of bare.files) await driver.writeFile(host, file.path, file.content);
      for (const argv of bare.setup) await driver.exec(host, { argv, timeoutMs: 120_000 });
      const log = path.join(dir, `${bare.kind}.log`);
      started.push({
        bare,
        log,
        pid: await driver.spawn(host, { argv: bare.argv }, { logFile: log }),
      });
    }
    await sleep(settleMs);
    const measured: BareKind[] = [];
    for (const { bare, pid, log } of started) {
      const pids = [pid, ...(await childPids(driver, host, pid))];
      const rollups = (await Promise.all(pids.map((p) => rollupOf(String(p))))).filter(
        (r) => r !== undefined,
      );
      if (rollups.length === 0) {
        const output = (await driver.readFile(host, log)) ?? '';
        throw new Error(
          `bare ${bare.kind} exited: ${output.trim().split('\n').slice(-5).join('\n')}`,
        );
      }
      measured.push({
        kind: bare.kind,
        processes: rollups.length,
        dirtyMb: rollups.reduce((sum, r) => sum + r.dirtyMb, 0),
        ussMb: rollups.reduce((sum, r) => sum + r.ussMb, 0),
        pssMb: rollups.reduce((sum, r) => sum + r.pssMb, 0),
      });
    }
    return measured;
  } finally {
    await Promise.all(started.map(({ pid }) => stopGroup(pid)));
    await driver.exec(host, { argv: ['rm', '-rf', dir] }, { check: false });
  }
}

/** One kind of ours against as many bare instances as ours runs. */
export interface BareMemoryRow {
  readonly kind: string;
  readonly ours: KindMemory;
  /** The bare reference, or undefined when there is none (then ours counts as its own). */
  readonly bare?: BareKind;
  /** How many instances ours runs (its processes ÷ the bare one's, at least 1). */
  readonly instances: number;
  /** Private_Dirty, MB: instances × the bare one's. */
  readonly bareMb: number;
}

/** Each kind of `ours` (private dirty) against its bare reference in `bare`; the largest excess first. */
export function againstBareMemory(ours: Memory, bare: readonly BareKind[]): BareMemoryRow[] {
  const rows = Object.entries(ours.byKind).map(([kind, k]): BareMemoryRow => {
    const one = bare.find((b) => b.kind === bareKindOf(kind));
    if (one === undefined) return { kind, ours: k, instances: k.processes, bareMb: k.dirtyMb };
    const instances = Math.max(1, Math.round(k.processes / one.processes));
    return { kind, ours: k, bare: one, instances, bareMb: instances * one.dirtyMb };
  });
  return rows.sort((a, b) => b.ours.dirtyMb - b.bareMb - (a.ours.dirtyMb - a.bareMb));
}

/** The table: per kind, ours, one bare, as many bare as ours runs, and the difference (Private_Dirty, MB). */
export function formatBareMemory(rows: readonly BareMemoryRow[], settleMs: number): string {
  const mb = (n: number): string => n.toFixed(1).padStart(7);
  const lines = rows.map(
    (r) =>
      `${r.kind.padEnd(30)} ${mb(r.ours.dirtyMb)} (${String(r.ours.processes).padStart(2)}) ${
        r.bare === undefined ? '      —' : mb(r.bare.dirtyMb)
      } ×${String(r.instances).padStart(2)} ${mb(r.bareMb)} ${mb(r.ours.dirtyMb - r.bareMb)}`,
  );
  const ours = rows.reduce((sum, r) => sum + r.ours.dirtyMb, 0);
  const bare = rows.reduce((sum, r) => sum + r.bareMb, 0);
  return [
    `The lab's memory idle after the load against its daemons bare (private dirty memory, MB: what each process wrote itself, whoever shares its binary): each kind started beside the lab as it comes (Debian's binary and defaults, or the lab's Node.js running nothing), idle, read after ${(settleMs / 1000).toFixed(0)} s; "bare ×n" is as many as ours runs, "diff" ours less that; a kind without a bare reference counts as its own`,
    `${'kind'.padEnd(30)} ${'ours'.padStart(7)} (ps) ${'bare'.padStart(7)}    n ${'bare ×n'.padStart(7)} ${'diff'.padStart(7)}`,
    ...lines,
    `${'total'.padEnd(30)} ${mb(ours)}      ${' '.repeat(7)}     ${mb(bare)} ${mb(ours - bare)}`,
  ].join('\n');
}
