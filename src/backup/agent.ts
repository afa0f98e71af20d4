/**
 * The backup agent on the backup host, supervised like every daemon: it follows the primary's
 * binary log (mariadb-binlog, raw, as it is written), closes the open file at most every
 * `binlogFlushSeconds` and seals closed files (compressed, encrypted, checksummed); takes a full
 * backup of a replica on schedule (or when asked), streamed to it over the core network (TLS 1.3,
 * each end verifying the other's name); prunes
 * by the retention policy; and tells Prometheus and `foobar db status` how recent it all is.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { httpsServer, type TlsFiles } from '../lib/tls-server.ts';
import type net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { backup as commands } from '../commands/backup.ts';
import { replaceFile } from '../lib/atomic.ts';
import { parseGtidList } from '../lib/gtid.ts';
import { sleep } from '../lib/wait.ts';
import { backupPaths, backupWrites, type BackupPaths } from '../model/backup.ts';
import { DB_USERS, dbSecretName, serverIdOf } from '../model/database.ts';
import { hostPaths } from '../model/layout.ts';
import { backupTool } from '../release/daemons.ts';
import { addressOf, findHost, type Host } from '../model/model.ts';
import { coreName, transitFiles, trustedCa } from '../model/transit.ts';
import { mariadbFiles, renderNetworkClientConfig } from '../render/mariadb/index.ts';
import type { Context } from '../steps/context.ts';
import { followDbState, readDbState, replicasOf, type DbStateSource } from '../steps/db/state.ts';
import {
  readBinlogSpan,
  readArchivedBinlogs,
  readFullBackups,
  retained,
  type ArchivedBinlog,
  type FullBackup,
} from './catalog.ts';
import { seal } from './seal.ts';

/** What the agent last saw, for `foobar db status` and `db backups` (status.json). */
export interface AgentStatus {
  readonly at: string;
  /** The server whose binary log is followed, if any. */
  readonly following?: string;
  /**
   * The newest moment a restore can reach: the last check at which the archive (sealed and open
   * files) had everything the primary had written.
   */
  readonly recoverableAt?: string;
  readonly lastSealedAt?: string;
  readonly lastFull?: Pick<FullBackup, 'id' | 'finishedAt' | 'gtid' | 'source'>;
  readonly lastError?: string;
}

interface Follower {
  readonly source: string;
  readonly child: ChildProcess;
  exited: boolean;
}

const TICK_MS = 1000;
/** The GTID mariadb-backup prints for the copy: "GTID of the last change '0-31-42'". */
const BACKUP_GTID = /GTID of the last change '([^']*)'/;

export class BackupAgent {
  private readonly paths: BackupPaths;
  private readonly clientConfig: string;
  private follower: Follower | undefined;
  private stopping = false;
  private lastFlush = Date.now();
  private openedAt = new Map<string, number>();
  private status: AgentStatus = { at: new Date().toISOString() };
  private fullRunning: Promise<FullBackup> | undefined;
  private fullFailures = 0;
  private readonly ctx: Context;
  private readonly me: Host;
  private readonly key: Buffer;
  /** database.json, read every tick: on machines streamed from the monitor (followDbState). */
  private readonly states: DbStateSource;

  constructor(ctx: Context, me: Host, key: Buffer) {
    this.ctx = ctx;
    this.me = me;
    this.key = key;
    this.paths = backupPaths(ctx.model, me.name);
    this.clientConfig = path.join(hostPaths(ctx.model, me.name).run, 'backup-client.cnf');
    this.states = followDbState(ctx, TICK_MS);
  }

  async run(): Promise<void> {
    for (const dir of backupWrites(this.paths)) await mkdir(dir, { recursive: true });
    const password = await this.ctx.secrets.get(dbSecretName('backup'));
    await writeFile(
      this.clientConfig,
      renderNetworkClientConfig(
        { user: DB_USERS.backup, password },
        trustedCa(hostPaths(this.ctx.model, this.me.name)),
      ),
      { mode: 0o600 },
    );
    const newest = (await readFullBackups(this.paths.full)).at(-1);
    if (newest !== undefined) this.status = { ...this.status, lastFull: summary(newest) };
    while (!this.stopping) {
      const started = Date.now();
      try {
        await this.tick(started);
        this.status = { ...this.status, lastError: undefined };
      } catch (error) {
        this.status = { ...this.status, lastError: (error as Error).message };
        process.stderr.write(`${new Date().toISOString()} ${(error as Error).message}\n`);
      }
      await this.writeStatus();
      await sleep(Math.max(50, TICK_MS - (Date.now() - started)));
    }
    this.follower?.child.kill('SIGTERM');
    this.states.close();
  }

  stop(): void {
    this.stopping = true;
  }

  private async tick(started: number): Promise<void> {
    const state = await this.states.read();
    await this.follow(state.primary);
    // A file that cannot be sealed must not stop the archive's measure (or the next backup).
    const sealing = await this.sealClosed().then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    await this.flushAndMeasure(state.primary, started);
    if (sealing !== undefined) throw sealing;
    const newest = this.status.lastFull;
    const due =
      newest === undefined ||
      Date.now() - Date.parse(newest.finishedAt) >=
        this.ctx.model.backup.fullIntervalMinutes * 60_000;
    if (due && this.fullRunning === undefined) {
      this.takeFull().catch((error: unknown) => {
        process.stderr.write(`full backup failed: ${(error as Error).message}\n`);
      });
    }
  }

  // ---- binary logs -------------------------------------------------------------------------

  private sql(
    host: string,
    statement: string,
  ): Promise<Readonly<Record<string, string | null>>[][]> {
    const sql = this.ctx.sql;
    if (sql === undefined) throw new Error('the backup agent needs SQL over the network');
    return sql.run(host, statement, 5000);
  }

  /** Keeps mariadb-binlog following the primary; a new primary is followed from where the archive ends. */
  private async follow(primary: string): Promise<void> {
    const current = this.follower;
    if (current?.source === primary && !current.exited) return;
    if (current !== undefined && !current.exited) current.child.kill('SIGTERM');
    this.follower = undefined;
    const host = findHost(this.ctx.model, primary);
    if (host === undefined) return;
    const dir = path.join(this.paths.spool, primary);
    await mkdir(dir, { recursive: true });
    // What an earlier follower of this server spooled is sealed first, and the new one starts
    // from the server's own files: a server whose binary log started again (a restore's RESET
    // MASTER) has another file under a spooled name, which a follower started from that name
    // would write over the history in the spool.
    for (const name of (await readdir(dir)).sort())
      await this.sealBinlog(primary, name).catch(async (error: unknown) => {
        // Unreadable (an event cut short): kept in the spool under a name no follower writes.
        process.stderr.write(`${primary}/${name}: ${(error as Error).message}\n`);
        await rename(path.join(dir, name), path.join(dir, `${name}.partial-${Date.now()}`));
      });
    const start = await this.startFile(primary);
    const command = commands.follow(
      this.clientConfig,
      { address: addressOf(host, 'core'), port: this.ctx.model.ports.mysql },
      dir,
      start,
      serverIdOf(this.ctx.model, this.me),
    );
    const [file = '', ...args] = command.argv;
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const follower: Follower = { source: primary, child, exited: false };
    child.on('exit', () => {
      follower.exited = true;
    });
    child.on('error', () => {
      follower.exited = true;
    });
    this.follower = follower;
  }

  /**
   * The primary's binary log to start from: the newest whose start the archive already covers
   * (a new primary after a failover holds the same transactions under its own file names), or
   * its oldest when the archive is empty.
   */
  private async startFile(primary: string): Promise<string> {
    const [logs = []] = await this.sql(primary, 'SHOW BINARY LOGS');
    const names = logs.map((row) => row.Log_name ?? '').filter((n) => n !== '');
    if (names.length === 0) throw new Error(`${primary} has no binary log`);
    const archived = await readArchivedBinlogs(this.paths.binlogs);
    const covered = archived.reduce((max, b) => {
      const seq = parseGtidList(b.lastGtid ?? '').reduce((m, g) => (g.seq > m ? g.seq : m), 0n);
      return seq > max ? seq : max;
    }, 0n);
    if (covered === 0n) return names[0] ?? '';
    for (const name of [...names].reverse()) {
      const [events = []] = await this.sql(
        primary,
        `SHOW BINLOG EVENTS IN '${name.replace(/'/g, '')}' LIMIT 4`,
      );
      const list = events.find((e) => e.Event_type === 'Gtid_list')?.Info ?? '';
      const seq = parseGtidList(list.replace(/[[\]]/g, '')).reduce(
        (m, g) => (g.seq > m ? g.seq : m),
        0n,
      );
      if (seq <= covered) return name;
    }
    return names[0] ?? '';
  }

  /**
   * Seals every spooled file that is closed: all but the one being written. A file that cannot
   * be sealed (say, the last event cut short when its follower was stopped) stays in the spool,
   * where restores still read it, and fails the tick; it never holds back the files after it,
   * nor another server's (the new primary's, after a failover).
   */
  private async sealClosed(): Promise<void> {
    const failures: string[] = [];
    for (const source of (await readdir(this.paths.spool)).sort()) {
      const dir = path.join(this.paths.spool, source);
      // Not the files kept aside unreadable (see follow): restores read them in the spool.
      const files = (await readdir(dir)).filter((n) => !n.includes('.partial-')).sort();
      const following = this.follower?.source === source && !this.follower.exited;
      const closed = following ? files.slice(0, -1) : files;
      for (const name of closed)
        await this.sealBinlog(source, name).catch((error: unknown) => {
          failures.push((error as Error).message);
        });
    }
    if (failures.length > 0) throw new Error(failures.join('; '));
  }

  private async sealBinlog(source: string, name: string): Promise<void> {
    const plain = path.join(this.paths.spool, source, name);
    const { span, exitCode, stderr } = await readBinlogSpan(plain);
    if (exitCode !== 0)
      throw new Error(`${plain}: mariadb-binlog could not read it: ${stderr.trim()}`);
    const dir = path.join(this.paths.binlogs, source);
    await mkdir(dir, { recursive: true });
    // A primary restored with --force starts its binary log again at .000001: the archive keeps
    // the file of that name it has already (history a restore to an earlier moment needs).
    const taken = await stat(path.join(dir, `${name}.json`)).then(
      () => true,
      () => false,
    );
    const base = taken ? `${name}.${new Date().toISOString().replace(/[-:.]/g, '')}` : name;
    const file = `${base}.zst.aes`;
    const sealed = await seal(createReadStream(plain), path.join(dir, file), this.key);
    const manifest: ArchivedBinlog = {
      kind: 'binlog',
      source,
      name,
      ...span,
      sealedAt: new Date().toISOString(),
      file,
      sealed,
    };
    await writeFile(path.join(dir, `${base}.json`), `${JSON.stringify(manifest, null, 2)}\n`);
    await rm(plain);
    this.status = { ...this.status, lastSealedAt: manifest.sealedAt };
  }

  /**
   * Closes the primary's open binary log once it has held events for `binlogFlushSeconds`, and
   * records the moment the archive had everything the primary had written (the spooled copy
   * of its current file is as long as the file).
   */
  private async flushAndMeasure(primary: string, started: number): Promise<void> {
    const follower = this.follower;
    if (follower === undefined || follower.exited) return;
    const [[master] = []] = await this.sql(primary, 'SHOW MASTER STATUS');
    const file = master?.File ?? '';
    const position = Number(master?.Position ?? 0);
    if (file === '') return;
    this.status = { ...this.status, following: primary };
    const copy = await stat(path.join(this.paths.spool, primary, file)).catch(() => undefined);
    if (copy !== undefined && copy.size >= position) {
      this.status = { ...this.status, recoverableAt: new Date(started).toISOString() };
    }
    const key = `${primary}/${file}`;
    if (!this.openedAt.has(key)) this.openedAt = new Map([[key, position]]);
    const atOpen = this.openedAt.get(key) ?? position;
    const flushEvery = this.ctx.model.backup.binlogFlushSeconds * 1000;
    if (position > atOpen && Date.now() - this.lastFlush >= flushEvery) {
      await this.sql(primary, 'FLUSH BINARY LOGS');
      this.lastFlush = Date.now();
    }
  }

  // ---- full backups ------------------------------------------------------------------------

  /** One full backup at a time: a second request waits for the running one. */
  takeFull(): Promise<FullBackup> {
    this.fullRunning ??= this.fullBackup().finally(() => {
      this.fullRunning = undefined;
    });
    return this.fullRunning;
  }

  private async fullBackup(): Promise<FullBackup> {
    const state = await readDbState(this.ctx);
    // A replica that answers and is read-only: never the primary.
    let source: Host | undefined;
    for (const replica of replicasOf(this.ctx, state)) {
      try {
        const [[row] = []] = await this.sql(replica.name, 'SELECT @@read_only AS ro');
        if (row?.ro === '1') {
          source = replica;
          break;
        }
      } catch {
        // Down: try the next one.
      }
    }
    if (source === undefined) {
      this.fullFailures++;
      throw new Error('no replica answers: a full backup is never taken from the primary');
    }
    try {
      const backup = await this.streamFrom(source);
      await this.prune();
      return backup;
    } catch (error) {
      this.fullFailures++;
      throw error;
    }
  }

  private async streamFrom(source: Host): Promise<FullBackup> {
    const startedAt = new Date();
    const id = `${startedAt
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')}-${source.name}`;
    const file = `${id}.mbstream.zst.aes`;
    const address = addressOf(this.me, 'core');
    const port = this.ctx.model.ports.backupStream;
    const expected = addressOf(source, 'core');
    const sender = coreName(this.ctx.model, source);
    let sealing: Promise<Awaited<ReturnType<typeof seal>>> | undefined;
    const refuse = (socket: net.Socket, why: string): void => {
      process.stderr.write(
        `${new Date().toISOString()} full backup: refused a sender from ${socket.remoteAddress ?? '?'}: ${why}\n`,
      );
      socket.destroy();
    };
    // TLS 1.3, mutual: the replica verifies this host's core name against the lab's CA, and only
    // a client certificate of the same CA that names the replica asked, from its core address,
    // is stored; a sender refused at the handshake or after it has nothing written.
    const server = tls.createServer(await this.streamTls(), (socket) => {
      if (socket.remoteAddress !== expected) {
        refuse(socket, `not ${source.name}'s address ${expected}`);
        return;
      }
      const named = tls.checkServerIdentity(sender, socket.getPeerCertificate());
      if (named !== undefined) {
        refuse(socket, `its certificate does not name ${sender} (${named.message})`);
        return;
      }
      if (sealing !== undefined) {
        refuse(socket, 'a sender is already streaming');
        return;
      }
      sealing = seal(socket, path.join(this.paths.full, file), this.key);
    });
    server.on('tlsClientError', (error, socket) => {
      refuse(socket, `TLS handshake failed (${error.message})`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, resolve);
    });
    try {
      const sourcePaths = hostPaths(this.ctx.model, source.name);
      const files = mariadbFiles(sourcePaths);
      const tmp = path.join(sourcePaths.run, 'backup-tmp');
      const tlsFiles = transitFiles(sourcePaths, 'backup-sender');
      const result = await this.ctx.driver.exec(
        source.name,
        commands.tool(backupTool(this.ctx.model), [
          'send',
          `--ca=${tlsFiles.ca}`,
          `--cert=${tlsFiles.cert}`,
          `--key=${tlsFiles.key}`,
          `--name=${coreName(this.ctx.model, this.me)}`,
          `${address}:${port}`,
          tmp,
          '--',
          ...commands.stream(files.backupClient, tmp).argv,
        ]),
        { check: false },
      );
      if (result.exitCode !== 0 || sealing === undefined) {
        throw new Error(
          `${source.name}: mariadb-backup failed (exit ${result.exitCode}): ${result.stderr.trim().split('\n').slice(-4).join(' | ')}`,
        );
      }
      const sealed = await sealing;
      const sent = /^sent (\d+) bytes$/m.exec(result.stderr)?.[1];
      if (sent === undefined || Number(sent) !== sealed.plainBytes)
        throw new Error(
          `${source.name} sent ${sent ?? 'an unknown number of'} bytes, ${sealed.plainBytes} arrived`,
        );
      const gtid = BACKUP_GTID.exec(result.stderr)?.[1];
      if (gtid === undefined)
        throw new Error(`${source.name}: mariadb-backup did not say the copy's GTID position`);
      const manifest: FullBackup = {
        kind: 'full',
        id,
        source: source.name,
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        gtid,
        file,
        sealed,
      };
      await writeFile(
        path.join(this.paths.full, `${id}.json`),
        `${JSON.stringify(manifest, null, 2)}\n`,
      );
      this.status = { ...this.status, lastFull: summary(manifest) };
      return manifest;
    } catch (error) {
      await rm(path.join(this.paths.full, `${file}.part`), { force: true });
      throw error;
    } finally {
      server.close();
    }
  }

  /**
   * The full backup stream's TLS, read at each backup (a renewal by `up` is taken by the next):
   * this host's certificate (the one its metrics are served with: its core name and address)
   * and the lab's CA, which a sender's client certificate must chain to.
   */
  private async streamTls(): Promise<tls.TlsOptions> {
    const paths = hostPaths(this.ctx.model, this.me.name);
    const files = transitFiles(paths, 'exporters');
    return {
      cert: await readFile(files.cert),
      key: await readFile(files.key),
      ca: await readFile(trustedCa(paths)),
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
    };
  }

  /**
   * Deletes the full backups the policy does not keep, and the binary logs that only lead up to
   * the oldest kept one.
   */
  private async prune(): Promise<void> {
    const backups = await readFullBackups(this.paths.full);
    const keep = retained(backups, this.ctx.model.backup);
    for (const b of backups) {
      if (keep.has(b.id)) continue;
      for (const name of [b.file, `${b.file}.sha256`, `${b.id}.json`])
        await rm(path.join(this.paths.full, name), { force: true });
    }
    const oldest = backups.find((b) => keep.has(b.id));
    if (oldest === undefined) return;
    const floor = parseGtidList(oldest.gtid).reduce((m, g) => (g.seq > m ? g.seq : m), 0n);
    for (const b of await readArchivedBinlogs(this.paths.binlogs)) {
      const last = parseGtidList(b.lastGtid ?? '').reduce((m, g) => (g.seq > m ? g.seq : m), 0n);
      if (last >= floor) continue;
      const dir = path.dirname(b.path);
      const manifest = `${b.file.replace(/\.zst\.aes$/, '')}.json`;
      for (const name of [b.file, `${b.file}.sha256`, manifest])
        await rm(path.join(dir, name), { force: true });
    }
  }

  // ---- what it tells ----------------------------------------------------------------------

  private async writeStatus(): Promise<void> {
    this.status = { ...this.status, at: new Date().toISOString() };
    // Read by `up`, `db status` and `db backups` at any moment: replaced whole, never cut.
    await replaceFile(this.paths.status, `${JSON.stringify(this.status, null, 2)}\n`);
  }

  metrics(): string {
    const seconds = (iso: string | undefined): string =>
      iso === undefined ? '0' : String(Date.parse(iso) / 1000);
    const s = this.status;
    const lines = [
      '# HELP foobar_backup_full_last_success_timestamp_seconds When the newest full backup finished.',
      '# TYPE foobar_backup_full_last_success_timestamp_seconds gauge',
      `foobar_backup_full_last_success_timestamp_seconds ${seconds(s.lastFull?.finishedAt)}`,
      '# HELP foobar_backup_full_failures_total Full backups that failed.',
      '# TYPE foobar_backup_full_failures_total counter',
      `foobar_backup_full_failures_total ${this.fullFailures}`,
      '# HELP foobar_backup_binlog_recoverable_timestamp_seconds The newest moment the archived binary log reaches.',
      '# TYPE foobar_backup_binlog_recoverable_timestamp_seconds gauge',
      `foobar_backup_binlog_recoverable_timestamp_seconds ${seconds(s.recoverableAt)}`,
      '# HELP foobar_backup_binlog_following 1 while the primary’s binary log is being followed.',
      '# TYPE foobar_backup_binlog_following gauge',
      `foobar_backup_binlog_following ${this.follower !== undefined && !this.follower.exited ? 1 : 0}`,
      '',
    ];
    return lines.join('\n');
  }
}

function summary(b: FullBackup): NonNullable<AgentStatus['lastFull']> {
  return { id: b.id, finishedAt: b.finishedAt, gtid: b.gtid, source: b.source };
}

/**
 * The agent's HTTP: /metrics and /healthz for the monitor (on the core address, over TLS), and
 * `POST /backup` (a full backup now, answered with its manifest) from its own host only.
 */
export function serveAgent(
  agent: BackupAgent,
  address: string,
  port: number,
  tls: TlsFiles,
): http.Server[] {
  const handler: http.RequestListener = (req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(agent.metrics());
      return;
    }
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200).end('ok\n');
      return;
    }
    if (
      req.method === 'POST' &&
      req.url === '/backup' &&
      req.socket.remoteAddress === '127.0.0.1'
    ) {
      agent.takeFull().then(
        (backup) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(backup));
        },
        (error: unknown) => {
          res.writeHead(500).end(`${(error as Error).message}\n`);
        },
      );
      return;
    }
    res.writeHead(404).end();
  };
  // The core address over TLS (the monitor verifies the host's exporters' certificate); plain
  // HTTP on loopback only, for this host's own requests.
  return [
    httpsServer(tls, handler).listen(port, address),
    http.createServer(handler).listen(port, '127.0.0.1'),
  ];
}
