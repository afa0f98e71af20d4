/**
 * The backup tool, run on the hosts by `foobar up` and `foobar db restore` on the lab's Node.js:
 *
 *   agent CONFIG                      the backup host's daemon (src/backup/agent.ts)
 *   send --ca= --cert= --key= --name= ADDR:PORT TMPDIR -- ARGV...
 *                                     on a replica: ARGV's output (mariadb-backup) to the backup host
 *                                     over TLS 1.3 (mutual: see send)
 *   list CONFIG                       the catalog as JSON: full backups, binary logs, the agent's status
 *   plan CONFIG TARGET [TAKEOVERS]    which backup and binary logs recover TARGET, as JSON
 *   unpack CONFIG ID DIR              a full backup, checked and opened, unpacked (mbstream) into DIR
 *   replay CONFIG TARGET SOCKET [TAKEOVERS]  the plan's binary logs applied to the server on SOCKET
 *
 * TARGET is `time=ISO` (the instant before it, to the second) or `gtid=LIST` (up to and with it).
 * TAKEOVERS is the JSON of catalog.ts's Takeover[], from database.json's history (the operator's
 * state, not the backup host's): where each former primary's binary log stops being the history.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { backup as commands } from '../commands/backup.ts';
import { parseManagerConfig } from '../failover/config.ts';
import { networkSql } from '../failover/sql.ts';
import { backupPaths } from '../model/backup.ts';
import { hostPaths } from '../model/layout.ts';
import { addressOf, findHost } from '../model/model.ts';
import { transitFiles } from '../model/transit.ts';
import { BACKUP_AGENT_ACCESS } from '../steps/backup-access.ts';
import { createContext } from '../steps/context.ts';
import { accessDriver, accessModel } from '../steps/ssh-access.ts';
import { BackupAgent, serveAgent } from './agent.ts';
import {
  mergeBinlogs,
  readBinlogSpan,
  planRecovery,
  readArchivedBinlogs,
  readFullBackups,
  sealedCopy,
  type Binlog,
  type OpenBinlog,
  type RecoveryTarget,
  type Takeover,
} from './catalog.ts';
import { parseKey, unseal } from './seal.ts';
import { z } from 'zod';
import { hasReached, parseGtidList } from '../lib/gtid.ts';

const UTC = { ...process.env, TZ: 'UTC' };

async function load(file: string) {
  const { host, model } = parseManagerConfig(await readFile(file, 'utf8'), file);
  const me = findHost(model, host);
  if (me === undefined) throw new Error(`${file}: ${host} is not a host of its model`);
  const paths = backupPaths(model, host);
  const key = parseKey(await readFile(paths.key, 'utf8'), paths.key);
  return { model, me, paths, key };
}

const takeoversSchema = z.array(
  z.object({ source: z.string(), gtid: z.string(), at: z.string(), restarted: z.boolean() }),
);

function parseTakeovers(text: string | undefined): Takeover[] {
  if (text === undefined || text === '') return [];
  const parsed = takeoversSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(`TAKEOVERS: not a list of takeovers (${parsed.error.message})`);
  return parsed.data;
}

function parseTarget(text: string | undefined): RecoveryTarget {
  const [kind, value = ''] = (text ?? '').split(/=(.*)/s);
  if (kind === 'time' && !Number.isNaN(Date.parse(value)))
    return { time: new Date(Date.parse(value)).toISOString() };
  if (kind === 'gtid' && /^\d+-\d+-\d+(,\d+-\d+-\d+)*$/.test(value)) return { gtid: value };
  throw new Error(`expected time=ISO-TIME or gtid=D-S-N, not "${text ?? ''}"`);
}

/** The binary logs still in the spool (being written, or not sealed yet), with their spans. */
async function openBinlogs(spool: string): Promise<OpenBinlog[]> {
  const found: OpenBinlog[] = [];
  for (const source of await readdir(spool).catch(() => [])) {
    for (const name of (await readdir(path.join(spool, source))).sort()) {
      const file = path.join(spool, source, name);
      const { span, exitCode } = await readBinlogSpan(file);
      // Sealed and removed by the agent since the readdir: the archive, read after, has it.
      if (exitCode !== 0 && !(await exists(file))) continue;
      // A file mariadb-binlog is writing may end in a partial event: its whole events count.
      found.push({ source, name, path: file, ...span });
    }
  }
  return found;
}

function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function catalog(paths: ReturnType<typeof backupPaths>) {
  // The spool first: the agent seals a file into the archive before it removes it from the spool.
  const open = await openBinlogs(paths.spool);
  const binlogs = mergeBinlogs(await readArchivedBinlogs(paths.binlogs), open);
  return { backups: await readFullBackups(paths.full), binlogs };
}

/**
 * The file to read `binlog` from now: a spooled file the agent has sealed since the catalog was
 * read (CI saw one go between plan and replay) is read from its archived copy.
 */
async function current(paths: ReturnType<typeof backupPaths>, binlog: Binlog): Promise<Binlog> {
  if ('sealed' in binlog || (await exists(binlog.path))) return binlog;
  const copy = sealedCopy(binlog, await readArchivedBinlogs(paths.binlogs));
  if (copy === undefined)
    throw new Error(
      `${binlog.path}: gone from the spool and not in the archive; run the restore again`,
    );
  return copy;
}

/**
 * `send`: ARGV's output to the backup host over TLS 1.3, the backup host verified by NAME
 * against the CA and this host known to it by its client certificate (CERT, KEY). The backup
 * program starts only once the handshake is done, and is stopped if the connection fails.
 */
async function send(args: readonly string[], argv: readonly string[]): Promise<number> {
  const usage =
    'usage: send --ca=FILE --cert=FILE --key=FILE --name=NAME ADDR:PORT TMPDIR -- ARGV...';
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      name: { type: 'string' },
    },
    allowPositionals: true,
  });
  const [to = '', tmp] = positionals;
  const [host, port] = to.split(':');
  const [file, ...rest] = argv;
  const { ca, cert, key, name } = values;
  if (
    host === undefined ||
    port === undefined ||
    tmp === undefined ||
    file === undefined ||
    ca === undefined ||
    cert === undefined ||
    key === undefined ||
    name === undefined
  )
    throw new Error(usage);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const socket = tls.connect({
    host,
    port: Number(port),
    servername: name,
    ca: await readFile(ca),
    cert: await readFile(cert),
    key: await readFile(key),
    minVersion: 'TLSv1.3',
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const child = spawn(file, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number>((resolve) =>
    child.on('close', (c) => {
      resolve(c ?? 1);
    }),
  );
  let sent = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    sent += chunk.length;
  });
  try {
    const [, code] = await Promise.all([pipeline(child.stdout, socket), exited]);
    // The backup host compares it with what it received.
    process.stderr.write(`sent ${sent} bytes\n`);
    return code;
  } catch (error) {
    // The backup host refused or dropped the stream: the copy is not left running.
    child.kill('SIGTERM');
    await exited;
    throw error;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Runs `from`'s output into `into`'s input; fails with either one's error output. */
async function pipe(from: readonly string[], into: readonly string[]): Promise<void> {
  const [a = '', ...aArgs] = from;
  const [b = '', ...bArgs] = into;
  const reader = spawn(a, aArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: UTC });
  const writer = spawn(b, bArgs, { stdio: ['pipe', 'ignore', 'pipe'] });
  let errors = '';
  reader.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  writer.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  const exit = (child: ReturnType<typeof spawn>): Promise<number> =>
    new Promise((resolve) =>
      child.on('close', (c) => {
        resolve(c ?? 1);
      }),
    );
  const [, readCode, writeCode] = await Promise.all([
    pipeline(reader.stdout, writer.stdin),
    exit(reader),
    exit(writer),
  ]);
  if (readCode !== 0 || writeCode !== 0)
    throw new Error(`${a} | ${b} failed (${readCode}, ${writeCode}): ${errors.trim()}`);
}

/** Of two stop positions, the one reached first (`b` may be absent). */
function earlier(a: string, b: string | undefined): string {
  return b !== undefined && hasReached(parseGtidList(a), parseGtidList(b)) ? b : a;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'agent': {
      const loaded = await load(args[0] ?? '');
      const { me, key } = loaded;
      // On machines it acts on the others over SSH with its own key, and its own state
      // directory (that key, pinned host keys, its password) stands for the operator's.
      const model =
        loaded.model.platform.kind === 'machines'
          ? accessModel(BACKUP_AGENT_ACCESS, loaded.model)
          : loaded.model;
      const base = createContext(model, accessDriver(BACKUP_AGENT_ACCESS, model));
      const ctx = { ...base, sql: networkSql(model, base.secrets, me, 'backup') };
      const agent = new BackupAgent(ctx, me, key);
      const servers = serveAgent(
        agent,
        addressOf(me, 'core'),
        model.ports.backupMetrics,
        transitFiles(hostPaths(model, me.name), 'exporters'),
      );
      const stop = (): void => {
        agent.stop();
        for (const server of servers) server.close();
        setTimeout(() => process.exit(0), 3000).unref();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      await agent.run();
      return 0;
    }
    case 'send': {
      const dash = args.indexOf('--');
      if (dash < 0) throw new Error('send: the backup program follows --');
      return send(args.slice(0, dash), args.slice(dash + 1));
    }
    case 'list': {
      const { paths } = await load(args[0] ?? '');
      const { backups, binlogs } = await catalog(paths);
      const status: unknown = JSON.parse(await readFile(paths.status, 'utf8').catch(() => '{}'));
      process.stdout.write(`${JSON.stringify({ backups, binlogs, status })}\n`);
      return 0;
    }
    case 'plan': {
      const { paths } = await load(args[0] ?? '');
      const { backups, binlogs } = await catalog(paths);
      process.stdout.write(
        `${JSON.stringify(planRecovery(parseTarget(args[1]), backups, binlogs, parseTakeovers(args[2])))}\n`,
      );
      return 0;
    }
    case 'unpack': {
      const { paths, key } = await load(args[0] ?? '');
      const backup = (await readFullBackups(paths.full)).find((b) => b.id === args[1]);
      if (backup === undefined) throw new Error(`no full backup ${args[1] ?? ''}`);
      const dir = args[2] ?? '';
      await mkdir(dir, { recursive: true });
      const stream = await unseal(path.join(paths.full, backup.file), backup.sealed, key);
      const [file = '', ...rest] = commands.unpack(dir).argv;
      const child = spawn(file, rest, { stdio: ['pipe', 'inherit', 'inherit'] });
      const code = new Promise<number>((resolve) =>
        child.on('close', (c) => {
          resolve(c ?? 1);
        }),
      );
      await pipeline(stream, child.stdin);
      return code;
    }
    case 'replay': {
      const { paths, key } = await load(args[0] ?? '');
      const target = parseTarget(args[1]);
      const socket = args[2] ?? '';
      const { backups, binlogs } = await catalog(paths);
      const plan = planRecovery(target, backups, binlogs, parseTakeovers(args[3]));
      const tmp = path.join(os.tmpdir(), `foobar-replay-${process.pid}`);
      await mkdir(tmp, { recursive: true });
      try {
        for (const step of plan.binlogs) {
          const { from, until } = step;
          const binlog = await current(paths, step.binlog);
          let file = binlog.path;
          if ('sealed' in binlog) {
            file = path.join(tmp, binlog.name);
            await pipeline(await unseal(binlog.path, binlog.sealed, key), createWriteStream(file));
          }
          // Both stops when the file goes past its takeover: mariadb-binlog ends at the first.
          const stopGtid = 'gtid' in target ? earlier(target.gtid, until) : until;
          const range = {
            from,
            ...('time' in target
              ? {
                  stopTime: target.time
                    .replace('T', ' ')
                    .replace(/\.\d+Z$/, '')
                    .replace(/Z$/, ''),
                }
              : {}),
            ...(stopGtid === undefined ? {} : { stopGtid }),
          };
          await pipe(commands.text(file, range).argv, [
            'mariadb',
            '--no-defaults',
            `--socket=${socket}`,
            '--user=root',
          ]);
          process.stdout.write(
            `applied ${binlog.source}/${binlog.name} from ${from || 'its start'}${until === undefined ? '' : ` until ${until} (its source's takeover)`}\n`,
          );
        }
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return 0;
    }
    default:
      process.stderr.write(
        'usage: node src/backup/main.ts agent|send|list|plan|unpack|replay ...\n',
      );
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exitCode = 1;
}
