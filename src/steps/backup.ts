/**
 * Backups in `up`, `down`, `status` and the `db backup|backups|restore` commands: the backup
 * agent is a Daemon of the backup host like any other; a restore is a plan of steps run through
 * the driver on the backup host, onto a scratch server of its own.
 */
import path from 'node:path';
import { backup as commands, type ToolPlace } from '../commands/backup.ts';
import { curl, parseCurlOutput } from '../commands/curl.ts';
import { files as fileCommands } from '../commands/files.ts';
import { mariadb } from '../commands/mariadb.ts';
import {
  backupTool,
  buildDaemons,
  DAEMON_ENV,
  daemonCommand,
  daemonsKey,
} from '../release/daemons.ts';
import { randomBytes } from 'node:crypto';
import { BACKUP_KEY_SECRET, backupHost, backupPaths, backupWrites } from '../model/backup.ts';
import { dbHosts, serverIdOf } from '../model/database.ts';
import { hostPaths } from '../model/layout.ts';
import type { Host } from '../model/model.ts';
import type { AgentStatus } from '../backup/agent.ts';
import { takeoversOf, type Binlog, type FullBackup, type RecoveryPlan } from '../backup/catalog.ts';
import { renderManagerConfig } from '../failover/config.ts';
import { expectStatus } from '../probes/http.ts';
import { parseXmlResults } from '../probes/mariadb.ts';
import { renderedHeader } from '../render/header.ts';
import type { Target } from '../drivers/driver.ts';
import type { Responder } from '../drivers/recording.ts';
import type { Context } from './context.ts';
import { describeOutcomes, ensureDaemon, once, stopDaemon, type Daemon } from './daemon.ts';
import type { Task } from './plan.ts';
import { installDaemons } from './release.ts';
import { readDbState } from './db/state.ts';
import { scrapedAs } from '../model/monitoring.ts';
import { BACKUP_AGENT_ACCESS } from './backup-access.ts';
import { ensureAccess } from './ssh-access.ts';

/** The backup agent: its bundle (src/release/daemons.ts) on the platform's Node.js, as root. */
export function backupAgentDaemon(ctx: Context, host: Host, key?: string): Daemon {
  const paths = hostPaths(ctx.model, host.name);
  const files = backupPaths(ctx.model, host.name);
  const rendered = once(() => [
    { path: files.config, content: renderManagerConfig(host.name, ctx.model) },
    { path: `${files.config}.code`, content: `${daemonsKey()}\n` },
    ...(key === undefined ? [] : [{ path: files.key, content: `${key}\n`, mode: 0o600 }]),
  ]);
  const start = once(() => daemonCommand(ctx.model, 'backup', ['agent', files.config]));
  return {
    service: 'backup-agent',
    host: host.name,
    pidFile: files.pid,
    marker: files.config,
    get files() {
      return rendered();
    },
    // Its own directories exist before it starts: on machines its unit mounts them writable.
    dirs: [paths.etc, paths.run, paths.log, paths.data, ...backupWrites(files)],
    // Its backups, binary logs, spool and status (on machines a unit sees the rest read-only).
    writes: backupWrites(files),
    prepare: async (c) => {
      await installDaemons(c, host.name);
      // Its status before it moved into a directory of its own (foobar of 2026-12-03 and older).
      await c.driver.remove(host.name, path.join(paths.data, 'status.json'));
    },
    get start() {
      return start();
    },
    env: DAEMON_ENV,
    outputLog: files.log,
    stopSignal: 'TERM',
    ports: [ctx.model.ports.backupMetrics],
    ...scrapedAs('backupMetrics'),
    probe: (c) =>
      expectStatus(c.driver, host.name, `http://127.0.0.1:${c.model.ports.backupMetrics}/healthz`),
    logs: [],
  };
}

/** The key that encrypts backups: a secret of this machine, copied to the backup host only. */
function backupKey(ctx: Context): Promise<string> {
  return ctx.secrets.get(BACKUP_KEY_SECRET, () => randomBytes(32).toString('hex'));
}

/**
 * `after`: what must be done before the agent's SSH access is made (on machines, the managers'
 * access, which edits the same authorized_keys files).
 */
export function backupTasks(ctx: Context, after?: () => Promise<unknown>): Task[] {
  const host = backupHost(ctx.model);
  if (host === undefined) return [];
  return [
    {
      title: `${host.name} backup agent`,
      run: async () => {
        const outcomes: Record<string, string> = {};
        if (ctx.platform.kind === 'machines') {
          // Its own access, whether that one was made or not.
          await after?.().catch(() => undefined);
          // What the agent acts with on the other machines, before it starts: its SSH
          // access, and the tool a replica runs to send its full backup.
          const access = await ensureAccess(ctx, BACKUP_AGENT_ACCESS);
          if (access !== 'up to date') outcomes['agent’s SSH access'] = access;
          const copied = (
            await Promise.all(
              dbHosts(ctx.model).map(async (db) =>
                (await installDaemons(ctx, db.name)) === 'copied' ? [db.name] : [],
              ),
            )
          ).flat();
          if (copied.length > 0) outcomes['backup tool'] = `copied to ${copied.join(', ')}`;
        }
        outcomes['backup agent'] = await ensureDaemon(
          ctx,
          backupAgentDaemon(ctx, host, await backupKey(ctx)),
        );
        // A lab is up with a backup: the first is taken now (the agent would start it anyway).
        const status = await ctx.driver.readFile(
          host.name,
          backupPaths(ctx.model, host.name).status,
        );
        if (!status?.includes('"lastFull"'))
          outcomes['first full backup'] = `taken (${(await takeBackup(ctx)).id})`;
        return describeOutcomes(outcomes);
      },
    },
  ];
}

function requireBackupHost(ctx: Context): Host {
  const host = backupHost(ctx.model);
  if (host === undefined)
    throw new Error('this lab has no host with the backup role: add one to foobar.yaml');
  return host;
}

/** A full backup now: the agent takes it from a replica and answers with its manifest. */
export async function takeBackup(ctx: Context): Promise<FullBackup> {
  const host = requireBackupHost(ctx);
  const result = await ctx.driver.exec(
    host.name,
    curl.request(`http://127.0.0.1:${ctx.model.ports.backupMetrics}/backup`, {
      method: 'POST',
      timeoutSeconds: 900,
    }),
    { check: false },
  );
  const answer = parseCurlOutput(result.stdout);
  if (answer.status !== 200)
    throw new Error(
      `${host.name}: the backup agent could not take a backup: ${answer.body.trim() || result.stderr.trim()} (foobar logs ${host.name} backup-agent)`,
    );
  return JSON.parse(answer.body) as FullBackup;
}

export interface BackupCatalog {
  readonly backups: readonly FullBackup[];
  readonly binlogs: readonly Binlog[];
  readonly status: AgentStatus;
}

/**
 * The backup tool on `host`: the daemons' bundle of this checkout; on machines copied there
 * first if `up` copied another one (an operator's newer checkout), in the lab built first if
 * this checkout's sources changed since `up` built it.
 */
async function toolOn(ctx: Context, host: string): Promise<ToolPlace> {
  if (ctx.platform.kind === 'machines') await installDaemons(ctx, host);
  else await buildDaemons(ctx.model);
  return backupTool(ctx.model);
}

export async function listBackups(ctx: Context): Promise<BackupCatalog> {
  const host = requireBackupHost(ctx);
  const files = backupPaths(ctx.model, host.name);
  const result = await ctx.driver.exec(
    host.name,
    commands.tool(await toolOn(ctx, host.name), ['list', files.config], 120_000),
  );
  return JSON.parse(result.stdout) as BackupCatalog;
}

/** The newest moment a restore can reach, as the agent last saw it (undefined: no backup host). */
export async function recoverableAt(
  ctx: Context,
): Promise<{ at?: string; lastFull?: string } | undefined> {
  const host = backupHost(ctx.model);
  if (host === undefined) return undefined;
  const text = await ctx.driver.readFile(host.name, backupPaths(ctx.model, host.name).status);
  if (text === undefined) return {};
  const status = JSON.parse(text) as AgentStatus;
  return {
    ...(status.recoverableAt === undefined ? {} : { at: status.recoverableAt }),
    ...(status.lastFull === undefined ? {} : { lastFull: status.lastFull.finishedAt }),
  };
}

// ---- restore ----------------------------------------------------------------------------------

/** Where a restore puts the scratch server on the backup host. */
export function scratchFiles(ctx: Context, host: string) {
  const dir = backupPaths(ctx.model, host).restore;
  return {
    dir,
    data: path.join(dir, 'data'),
    config: path.join(dir, 'my.cnf'),
    socket: path.join(dir, 'run', 'mysqld.sock'),
    runDir: path.join(dir, 'run'),
    serverPid: path.join(dir, 'run', 'mariadbd.pid'),
    pid: path.join(hostPaths(ctx.model, host).run, 'scratch-mariadb.pid'),
    log: path.join(hostPaths(ctx.model, host).log, 'scratch-mariadb.log'),
  };
}

/**
 * A MariaDB server on the backup host for restores: on its socket only (no network), with its
 * own binary log so its GTID position shows how far the restore went.
 */
export function renderScratchConfig(ctx: Context, host: Host): string {
  const f = scratchFiles(ctx, host.name);
  return `${renderedHeader('#', `scratch MariaDB for restores on ${host.name}`)}
[client-server]
socket = ${f.socket}

[mysqld]
user = mysql
datadir = ${f.data}
pid_file = ${f.serverPid}
skip_networking = ON
skip_name_resolve = ON
performance_schema = OFF
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
server_id = ${serverIdOf(ctx.model, host)}
log_bin = scratch-bin
binlog_format = ROW
gtid_domain_id = 0
skip_slave_start = ON
`;
}

export function scratchDaemon(ctx: Context, host: Host): Daemon {
  const f = scratchFiles(ctx, host.name);
  return {
    service: 'scratch-mariadb',
    host: host.name,
    pidFile: f.pid,
    marker: f.config,
    files: [{ path: f.config, content: renderScratchConfig(ctx, host) }],
    dirs: [f.runDir],
    writes: [f.dir],
    prepare: async (c) => {
      await c.driver.exec(host.name, fileCommands.chown('mysql:mysql', f.runDir));
    },
    checks: [mariadb.check(f.config)],
    start: mariadb.start(f.config, 'primary'),
    outputLog: f.log,
    stopSignal: 'TERM',
    probe: async (c) => {
      const r = await c.driver.exec(host.name, mariadb.ping(f.socket), { check: false });
      return r.exitCode === 0 ? undefined : 'not answering yet';
    },
    logs: [],
    startTimeoutMs: 120_000,
  };
}

export interface RestoreOptions {
  /** `time=ISO` or `gtid=LIST`. */
  readonly target: string;
  /** Told before each step starts, and with its outcome. */
  readonly progress: (line: string) => void;
}

export interface RestoreReport {
  readonly to: string;
  readonly plan: RecoveryPlan;
  /** The scratch server's GTID position once restored. */
  readonly gtid: string;
  readonly socket: string;
  /** How long the restore took, from the first step to a server answering with the data (RTO). */
  readonly seconds: number;
  readonly steps: readonly { readonly step: string; readonly seconds: number }[];
}

/** Stops the scratch server of an earlier restore (if any) and deletes its data. */
export async function discardScratch(ctx: Context): Promise<boolean> {
  const host = requireBackupHost(ctx);
  const stopped = await stopDaemon(ctx, scratchDaemon(ctx, host));
  await ctx.driver.remove(host.name, scratchFiles(ctx, host.name).dir);
  return stopped;
}

/**
 * Restores the moment `target` onto a scratch server on the backup host: the last full backup
 * before it (checked, decrypted, unpacked, prepared), then the archived binary logs up to it.
 */
export async function restoreToScratch(
  ctx: Context,
  options: RestoreOptions,
): Promise<RestoreReport> {
  const host = requireBackupHost(ctx);
  const files = backupPaths(ctx.model, host.name);
  const f = scratchFiles(ctx, host.name);
  const runtime = await toolOn(ctx, host.name);
  const started = Date.now();
  const steps: { step: string; seconds: number }[] = [];
  const step = async <T>(title: string, work: () => Promise<T>): Promise<T> => {
    options.progress(`${title}...`);
    const t0 = Date.now();
    const result = await work();
    const seconds = (Date.now() - t0) / 1000;
    steps.push({ step: title, seconds });
    options.progress(`${title}: done in ${seconds.toFixed(1)} s`);
    return result;
  };
  // Where each former primary's binary log stops being the history: database.json knows.
  const takeovers = JSON.stringify(takeoversOf((await readDbState(ctx)).history));
  const plan = JSON.parse(
    (
      await ctx.driver.exec(
        host.name,
        commands.tool(runtime, ['plan', files.config, options.target, takeovers], 120_000),
      )
    ).stdout,
  ) as RecoveryPlan;
  options.progress(
    `plan: full backup ${plan.backup.id} (from ${plan.backup.source}, at ${plan.backup.gtid}, ${mb(plan.backup.sealed.bytes)} stored), then ${plan.binlogs.length} binary log(s) (${plan.binlogs.map((b) => `${b.binlog.source}/${b.binlog.name}`).join(', ') || 'none'}) up to ${options.target}, onto a scratch server on ${host.name}`,
  );
  await step('discard the previous scratch server', () => discardScratch(ctx));
  await step(
    `check, decrypt and unpack ${plan.backup.id} (${mb(plan.backup.sealed.plainBytes)})`,
    () =>
      ctx.driver.exec(
        host.name,
        commands.tool(runtime, ['unpack', files.config, plan.backup.id, f.data]),
      ),
  );
  await step('prepare it (apply its redo log)', async () => {
    await ctx.driver.exec(host.name, mariadb.prepare(f.data));
    await ctx.driver.exec(host.name, fileCommands.chownTree('mysql:mysql', f.data));
  });
  await step('start the scratch server on it', () => ensureDaemon(ctx, scratchDaemon(ctx, host)));
  await step(`apply the binary logs up to ${options.target}`, () =>
    ctx.driver.exec(
      host.name,
      commands.tool(runtime, ['replay', files.config, options.target, f.socket, takeovers]),
    ),
  );
  const result = await ctx.driver.exec(
    host.name,
    mariadb.rootSql(f.socket, 'SELECT @@gtid_binlog_pos AS pos;'),
  );
  const gtid = parseXmlResults(result.stdout)[0]?.[0]?.pos ?? '';
  return {
    to: `${host.name} (scratch)`,
    plan,
    gtid: gtid === '' ? plan.backup.gtid : gtid,
    socket: f.socket,
    seconds: (Date.now() - started) / 1000,
    steps,
  };
}

function mb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`;
}

/** What `foobar db backups` prints. */
export function formatBackups(catalog: BackupCatalog, now = Date.now()): string {
  const age = (iso: string | undefined): string => {
    if (iso === undefined) return '—';
    const s = Math.max(0, (now - Date.parse(iso)) / 1000);
    if (s < 120) return `${s.toFixed(0)} s`;
    if (s < 7200) return `${(s / 60).toFixed(0)} min`;
    if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86_400).toFixed(1)} d`;
  };
  const lines = ['Full backups (newest last):'];
  if (catalog.backups.length === 0) lines.push('  none yet');
  for (const b of catalog.backups)
    lines.push(
      `  ${b.id}  from ${b.source}  ${mb(b.sealed.bytes)} stored (${mb(b.sealed.plainBytes)} raw)  age ${age(b.finishedAt)}  GTID ${b.gtid}`,
    );
  const withEvents = catalog.binlogs.filter((b) => b.firstGtid !== undefined);
  const sealed = catalog.binlogs.filter((b) => 'sealed' in b);
  const first = withEvents[0];
  const last = withEvents.at(-1);
  lines.push(
    `Binary logs: ${sealed.length} archived, ${catalog.binlogs.length - sealed.length} open; GTID ${first?.firstGtid ?? '—'} to ${last?.lastGtid ?? '—'}`,
  );
  lines.push(
    `Recoverable up to: ${catalog.status.recoverableAt ?? 'unknown'} (${age(catalog.status.recoverableAt)} ago)${catalog.status.following === undefined ? '' : `, following ${catalog.status.following}`}`,
  );
  if (catalog.status.lastError !== undefined) lines.push(`Last error: ${catalog.status.lastError}`);
  return `${lines.join('\n')}\n`;
}

/**
 * For `foobar up --dry-run`: the backup agent answers a request for a full backup with the
 * manifest of one, so the plan runs through.
 */
export function simulatedBackups(): Responder {
  return (_target: Target, argv: readonly string[]) => {
    if (argv[0] !== 'curl' || argv.at(-1)?.endsWith('/backup') !== true) return undefined;
    const manifest: FullBackup = {
      kind: 'full',
      id: 'simulated',
      source: 'a replica',
      startedAt: new Date(0).toISOString(),
      finishedAt: new Date(0).toISOString(),
      gtid: '0-1-1',
      file: 'simulated.mbstream.zst.aes',
      sealed: { bytes: 0, plainBytes: 0, sha256: '', iv: '', tag: '' },
    };
    return { stdout: `${JSON.stringify(manifest)}\n200 0.1`, stderr: '', exitCode: 0 };
  };
}
