/** The `foobar` command line: flags in, a step run through a driver, output out. Nothing else. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RecordingDriver } from '../drivers/recording.ts';
import { labLock, withLabLock } from '../steps/lock.ts';
import { AUTOMATIC_FAILOVER } from '../model/failover.ts';
import { hostPaths, labPaths } from '../model/layout.ts';
import { siteCurlFlags, siteUrl } from '../probes/site.ts';
import { firewallFile, renderFirewall } from '../render/nftables/index.ts';
import { configPath, loadModel } from '../model/load.ts';
import { findHost, hostsWithRole, siteAddresses, type Model } from '../model/model.ts';
import { dashboardUrl } from '../model/monitoring.ts';
import { createContext, type Context } from '../steps/context.ts';
import { promoteReplica, rejoin, switchover, type ChangeReport } from '../steps/db/changes.ts';
import { simulatedDatabases } from '../steps/db/simulate.ts';
import { allOf, simulatedKeepalived } from '../steps/vrrp-simulate.ts';
import { dbStatus } from '../steps/db/status.ts';
import { formatHostRestore, restoreToHost } from '../steps/db/restore.ts';
import { readDbState } from '../steps/db/state.ts';
import { pauseFailover, recordManualTopology, resumeFailover } from '../steps/failover.ts';
import { downPlan, removeEmptyState } from '../steps/down.ts';
import { runPlan, type Phase } from '../steps/plan.ts';
import { deploy, STRATEGIES, type Strategy } from '../steps/deploy.ts';
import { buildApp, earlierBuild } from '../steps/release.ts';
import { listReleases } from '../steps/releases.ts';
import { previousRelease } from '../steps/rollback.ts';
import { daemonsOf } from '../steps/services.ts';
import {
  discardScratch,
  formatBackups,
  listBackups,
  restoreToScratch,
  simulatedBackups,
  takeBackup,
} from '../steps/backup.ts';
import { backupHost } from '../model/backup.ts';
import { EXIT_CODES, labStatus } from '../steps/status.ts';
import { upPlan } from '../steps/up.ts';
import { rotateSecrets, rotatableNames } from '../steps/secrets.ts';
import { planUp } from '../steps/up-plan.ts';
import { faultCatalog, selectFaults } from '../drill/faults.ts';
import { GOAL_TEXT } from '../drill/goals.ts';
import { RESTORE_CHECK } from '../drill/restore.ts';
import { formatDrill, markdownDrill } from '../drill/report.ts';
import { runDrill } from '../drill/run.ts';
import { formatChange, formatDbStatus, formatStatus } from './format.ts';
import { formatPlan } from './plan.ts';
import { progressLine, reporterFor, styleFor, timedReporter, type Style } from './progress.ts';
import { trustInstructions } from './trust.ts';

/** Ends the SSH connections the command opened (machines): bin/foobar.js calls it on exit. */
export { closeSshDrivers as closeConnections } from '../drivers/ssh.ts';

export const USAGE = `foobar — builds, runs and operates www.foobar.com

Usage: foobar [--config FILE] <command> [options]

Commands:
  up [--deploy] [--dry-run]   build the lab and start everything (idempotent);
                              --deploy also puts this checkout's app live
  up --plan                   what up would change on each host (files as diffs, daemons
                              to start, reload or restart), changing nothing; exit 0
                              nothing to change, 2 changes
  down [--purge]              stop everything, delete namespaces and links
                              (--purge also deletes state: releases, data, secrets)
  status [--json]             every host and service, the monitoring's targets and alerts;
                              exit 0 healthy, 1 degraded, 2 failed
  deploy [--strategy parallel|rolling] [--from DIR]
                              build the app (default: app/) and put it live on every web server
  rollback [ID] [--strategy parallel|rolling]
                              put an earlier release back (default: the previous one)
  releases [--json]           the releases on the web servers and where each is live
  exec HOST -- CMD [ARG...]   run a command inside a host, exit code passed through
  logs HOST [SERVICE] [-n N] [-f]
                              show (or follow) a host's logs
  render [--out DIR]          print the rendered config files (or write them under DIR)
  ca                          where the lab's certificate authority is, and how to trust it
  drill [FAULT...|backup:restore] [--seconds N] [--json] [--markdown FILE] [--list]
                              break the lab on purpose under load, one fault at a time,
                              heal it, and measure what visitors lost; then (backup:restore)
                              restore the newest backup to a scratch server and compare it
                              with a replica held at that GTID; exit 1 if a check missed its
                              goal (--list: the checks of this lab)
  db status [--json]          the primary, each replica's threads, lag and GTID, semi-sync;
                              exit 0 healthy, 1 degraded, 2 failed
  db switchover [--to HOST]   planned change of primary: writes pause, none is lost
  db promote HOST [--force]   the primary is gone: HOST takes over, the old one is fenced
  db rejoin HOST [--reseed]   a former primary (or stray replica) replicates from the primary;
                              --reseed replaces its data with a copy of the primary's
  secrets list                the generated secrets (names, files, ages; never values)
  secrets rotate [NAME...]    new database passwords (default: all), nobody refused:
                              the old one is dropped once every user has the new one
  db failover pause [--reason TEXT] | resume
                              stop (maintenance) or restart automatic failover; the
                              managers keep watching, manual promote always works

Options:
  --config FILE   the config (default: ./foobar.yaml if present, else the built-in lab)
  -h, --help      this help
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

const GLOBAL_OPTIONS = {
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: O,
  positionals = 0,
) {
  try {
    const parsed = parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    if (parsed.positionals.length > positionals) {
      throw new UsageError(`unexpected argument "${parsed.positionals[positionals] ?? ''}"`);
    }
    return parsed;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError((error as Error).message);
  }
}

async function runWithProgress(
  ctx: Context,
  command: string,
  phases: Phase[],
  io: Io,
): Promise<void> {
  await withLabLock(labLock(ctx), command, () => runPlan(phases, reporterFor(io.stdout)));
}

/** Who issued the site's certificate, as the summary of `up` names it. */
function issuerOf(model: Model): string {
  const acme = model.tls.acme;
  return acme === undefined
    ? "the lab's CA: see foobar ca"
    : `the ACME CA at ${new URL(acme.directory).host}`;
}

function siteSummary(model: Model): string {
  // A virtual address, as DNS answers: it works whichever load balancer holds it.
  const flags = siteCurlFlags(model, siteAddresses(model)[0]).join(' ');
  const dashboard = dashboardUrl(model);
  return [
    `${siteUrl(model)} is up (HTTPS, certificate from ${issuerOf(model)}). From this machine:`,
    `  curl ${flags} ${siteUrl(model)}api/whoami`,
    ...(dashboard === undefined
      ? []
      : [`  monitoring dashboard (this machine only): ${dashboard}`]),
    '  foobar status    foobar ca    foobar down',
  ].join('\n');
}

export async function main(argv: readonly string[], io: Io = process): Promise<number> {
  const commandIndex = argv.findIndex(
    (arg, i) => !arg.startsWith('-') && argv[i - 1] !== '--config',
  );
  const command = commandIndex === -1 ? undefined : argv[commandIndex];
  const rest = argv.filter((_, i) => i !== commandIndex);
  const dashDash = rest.indexOf('--');
  const own = dashDash === -1 ? [...rest] : rest.slice(0, dashDash);
  const after = dashDash === -1 ? [] : rest.slice(dashDash + 1);

  if (command === undefined || command === 'help' || own.includes('--help') || own.includes('-h')) {
    io.stdout.write(USAGE);
    return command === undefined && !own.includes('--help') && !own.includes('-h') ? 2 : 0;
  }

  switch (command) {
    case 'up': {
      const { values } = parse(own, {
        'dry-run': { type: 'boolean' },
        deploy: { type: 'boolean' },
        plan: { type: 'boolean' },
      });
      const model = loadModel(configPath(values.config));
      if (values.plan === true) {
        if (values['dry-run'] === true || values.deploy === true)
          throw new UsageError('--plan goes alone: it changes nothing, so it deploys nothing');
        const line = progressLine(io.stderr);
        const plan = await planUp(
          createContext(model),
          {},
          {
            phaseStarted: (phase) => {
              line.update(`planning: ${phase.title}`, true);
            },
            taskChanged: () => undefined,
            phaseFinished: () => undefined,
          },
        );
        line.clear();
        io.stdout.write(
          formatPlan(plan, `${model.platform.kind} ${model.lab.name}`, styleFor(io.stdout)),
        );
        return plan.changes.length === 0 && plan.exists ? 0 : 2;
      }
      if (values['dry-run'] === true) {
        const driver = new RecordingDriver(
          allOf(simulatedDatabases(model), simulatedKeepalived(model), simulatedBackups()),
          { simulate: true },
        );
        const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-dry-run-'));
        try {
          await runPlan(
            upPlan(
              { ...createContext(model, driver), scratchBuilds: path.join(scratch, 'daemons') },
              { buildsDir: scratch, offline: true },
            ),
          );
        } finally {
          await fs.rm(scratch, { recursive: true, force: true });
        }
        io.stdout.write(`${driver.calls.join('\n')}\n`);
        return 0;
      }
      const ctx = createContext(model);
      await withLabLock(labLock(ctx), 'foobar up', async () => {
        const reporter = timedReporter(reporterFor(io.stdout));
        await runPlan(upPlan(ctx), reporter);
        io.stdout.write(`\nup: ${reporter.slowest(4)}\n`);
        if (values.deploy === true) {
          // The checkout's app, live everywhere (nothing to do when it already is).
          const result = await deploy(
            ctx,
            { action: 'deploy', strategy: 'parallel', release: () => buildApp(ctx) },
            reporter,
          );
          io.stdout.write(
            `\nrelease ${result.release} is live${result.changed ? ` (deployed in ${result.seconds.toFixed(1)} s)` : ''}\n`,
          );
        }
      });
      io.stdout.write(`\n${siteSummary(model)}\n`);
      return 0;
    }
    case 'down': {
      const { values } = parse(own, { purge: { type: 'boolean' } });
      const model = loadModel(configPath(values.config));
      const ctx = createContext(model);
      await runWithProgress(
        ctx,
        'foobar down',
        downPlan(ctx, { purge: values.purge === true }),
        io,
      );
      if (values.purge === true) await removeEmptyState(ctx);
      return 0;
    }
    case 'status': {
      const { values } = parse(own, { json: { type: 'boolean' } });
      const model = loadModel(configPath(values.config));
      const status = await labStatus(createContext(model));
      report(io, values.json, status, formatStatus);
      return EXIT_CODES[status.health];
    }
    case 'deploy':
    case 'rollback': {
      const { values, positionals } = parse(
        own,
        { strategy: { type: 'string', default: 'parallel' }, from: { type: 'string' } },
        command === 'rollback' ? 1 : 0,
      );
      const strategy = values.strategy;
      if (!isStrategy(strategy)) {
        throw new UsageError(
          `--strategy must be one of ${STRATEGIES.join(', ')}, not "${strategy}"`,
        );
      }
      if (command === 'rollback' && values.from !== undefined)
        throw new UsageError('rollback takes a release id, not --from');
      const model = loadModel(configPath(values.config));
      const ctx = createContext(model);
      const result = await withLabLock(labLock(ctx), `foobar ${command}`, async () =>
        deploy(
          ctx,
          {
            action: command,
            strategy,
            release:
              command === 'deploy'
                ? () =>
                    buildApp(ctx, values.from === undefined ? undefined : path.resolve(values.from))
                : async () => earlierBuild(ctx, positionals[0] ?? (await previousRelease(ctx))),
          },
          reporterFor(io.stdout),
        ),
      );
      const webs = hostsWithRole(model, 'web')
        .map((h) => h.name)
        .join(', ');
      io.stdout.write(
        result.changed
          ? `\nrelease ${result.release} is live on ${webs} (${strategy}, ${result.seconds.toFixed(1)} s)\n`
          : `\nrelease ${result.release} is already live on ${webs}: nothing to do\n`,
      );
      return 0;
    }
    case 'releases': {
      const { values } = parse(own, { json: { type: 'boolean' } });
      const model = loadModel(configPath(values.config));
      const releases = await listReleases(createContext(model));
      if (values.json === true) {
        io.stdout.write(`${JSON.stringify({ releases }, null, 2)}\n`);
      } else if (releases.length === 0) {
        io.stdout.write('no releases yet: foobar up puts the first one live\n');
      } else {
        for (const r of releases) {
          const live = r.liveOn.length > 0 ? `live on ${r.liveOn.join(', ')}` : '';
          io.stdout.write(`${r.id}  ${r.installed}  on ${r.on.join(', ')}  ${live}\n`);
        }
      }
      return 0;
    }
    case 'exec': {
      const { values, positionals } = parse(own, {}, 1);
      const model = loadModel(configPath(values.config));
      const host = positionals[0];
      if (host === undefined || after.length === 0)
        throw new UsageError('usage: foobar exec HOST -- CMD [ARG...]');
      requireHost(model, host);
      return createContext(model).driver.attach(host, { argv: after });
    }
    case 'logs': {
      const { values, positionals } = parse(
        own,
        { lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' } },
        2,
      );
      const model = loadModel(configPath(values.config));
      const [hostName, service] = positionals;
      if (hostName === undefined)
        throw new UsageError('usage: foobar logs HOST [SERVICE] [-n LINES] [-f]');
      const host = requireHost(model, hostName);
      const ctx = createContext(model);
      const daemons = (await daemonsOf(ctx, host)).filter(
        (d) => service === undefined || d.service === service,
      );
      if (daemons.length === 0) {
        const known = (await daemonsOf(ctx, host)).map((d) => d.service);
        throw new UsageError(
          `${hostName} has no service "${service ?? ''}" (it has: ${known.join(', ') || 'none'})`,
        );
      }
      const lines = Number(values.lines ?? '50');
      if (!Number.isInteger(lines) || lines < 0)
        throw new UsageError(`-n must be a number of lines, not "${values.lines ?? ''}"`);
      const shown = await ctx.platform.supervisor.logs(ctx, daemons, {
        lines,
        follow: values.follow === true,
      });
      if (shown === undefined)
        throw new Error(
          `no logs yet for ${hostName}${service === undefined ? '' : ` ${service}`}: is the lab up?`,
        );
      return ctx.driver.attach(shown.target, shown.command);
    }
    case 'ca': {
      const { values } = parse(own, {});
      const model = loadModel(configPath(values.config));
      const pem = await createContext(model).driver.readFile(null, labPaths(model).caCertificate);
      if (pem === undefined)
        throw new Error(
          `lab ${model.lab.name} has no certificate authority yet: \`foobar up\` creates it`,
        );
      io.stdout.write(trustInstructions(model, pem));
      return 0;
    }
    case 'render': {
      const { values } = parse(own, { out: { type: 'string' } });
      const model = loadModel(configPath(values.config));
      const ctx = createContext(model, new RecordingDriver());
      for (const host of model.hosts) {
        const firewall = {
          path: firewallFile(hostPaths(model, host.name)),
          content: renderFirewall(model, host),
        };
        const daemons = await daemonsOf(ctx, host);
        for (const daemon of [...daemons, { files: [firewall] }]) {
          for (const file of daemon.files) {
            if (values.out === undefined) {
              io.stdout.write(
                `==> ${host.name}/${path.basename(file.path)} <==\n${file.content}\n`,
              );
            } else {
              const target = path.join(values.out, host.name, path.basename(file.path));
              await fs.mkdir(path.dirname(target), { recursive: true });
              await fs.writeFile(target, file.content);
              io.stdout.write(`${target}\n`);
            }
          }
        }
      }
      return 0;
    }
    case 'db':
      return dbCommand(own, io);
    case 'drill':
      return drillCommand(own, io);
    case 'secrets':
      return secretsCommand(own, io);
    default:
      throw new UsageError(`unknown command "${command}" (try foobar --help)`);
  }
}

async function drillCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...GLOBAL_OPTIONS,
      seconds: { type: 'string', default: '10' },
      json: { type: 'boolean' },
      markdown: { type: 'string' },
      list: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const model = loadModel(configPath(values.config));
  // Faults are injected in the lab (a host is silenced at its switch); on machines the drill is
  // the restore check.
  const injects = model.platform.kind === 'lab';
  const catalog = injects ? faultCatalog(model) : [];
  // The restore check runs with the faults (last) when the lab has a backup host.
  const canRestore = backupHost(model) !== undefined;
  if (values.list === true) {
    const width = Math.max(...catalog.map((f) => f.name.length), RESTORE_CHECK.name.length);
    for (const fault of catalog)
      io.stdout.write(
        `${fault.name.padEnd(width)}  ${fault.what}; goal: ${GOAL_TEXT[fault.goal]}\n`,
      );
    if (canRestore)
      io.stdout.write(
        `${RESTORE_CHECK.name.padEnd(width)}  ${RESTORE_CHECK.what}; goal: ${RESTORE_CHECK.goal}\n`,
      );
    return 0;
  }
  const restore =
    canRestore && (positionals.length === 0 || positionals.includes(RESTORE_CHECK.name));
  const seconds = Number(values.seconds);
  // Bounded: a fault lasts at most two minutes.
  if (!(seconds >= 1 && seconds <= 120))
    throw new UsageError('--seconds must be between 1 and 120');
  const faults = (() => {
    try {
      const named = positionals.filter((n) => n !== RESTORE_CHECK.name || !canRestore);
      if (!injects && named.length > 0)
        throw new Error(
          `${named.join(', ')}: on machines foobar drill runs ${RESTORE_CHECK.name} only (with a backup host); ` +
            'its faults (a daemon killed, a host silenced at the switch, a partition) are injected in the lab',
        );
      return positionals.length > 0 && named.length === 0 ? [] : selectFaults(catalog, named);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  })();
  if (faults.length === 0 && !restore)
    throw new UsageError(
      `nothing to drill: no fault of the lab was named, and ${RESTORE_CHECK.name} needs a backup host (a host with the backup role)`,
    );
  const ctx = createContext(model);
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    io.stderr.write(
      controller.signal.aborted
        ? `\n${signal}: still healing, wait\n`
        : `\n${signal}: healing what the drill broke, then stopping\n`,
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const line = progressLine(io.stderr);
  try {
    // The drill rehearses the failover managers' work: they may act while it holds the lab.
    const drill = await withLabLock(
      labLock(ctx),
      'foobar drill',
      () =>
        runDrill(ctx, faults, {
          seconds,
          restore,
          signal: controller.signal,
          progress: (text, transient) => {
            line.update(text, transient);
          },
        }),
      [AUTOMATIC_FAILOVER],
    );
    line.clear();
    if (values.markdown !== undefined) await fs.writeFile(values.markdown, markdownDrill(drill));
    report(io, values.json, drill, formatDrill);
    return drill.passed ? 0 : 1;
  } catch (error) {
    line.clear();
    if (controller.signal.aborted) {
      io.stderr.write('drill interrupted: what it broke is healed\n');
      return 130;
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const SECRETS_USAGE = `usage: foobar secrets list | rotate [NAME...] (NAME: ${rotatableNames().join(', ')})`;

async function secretsCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {}, Number.MAX_SAFE_INTEGER);
  const [sub, ...names] = positionals;
  const model = loadModel(configPath(values.config));
  const ctx = createContext(model);
  if (sub === 'list') {
    const dir = labPaths(model).secrets;
    const entries = (await fs.readdir(dir).catch(() => [])).sort();
    if (entries.length === 0) {
      io.stdout.write(`no secrets yet in ${dir} (foobar up makes them)\n`);
      return 0;
    }
    const now = Date.now();
    for (const name of entries) {
      const stat = await fs.stat(path.join(dir, name));
      const days = (now - stat.mtimeMs) / 86_400_000;
      const age = days < 1 ? `${Math.round(days * 24)} h` : `${days.toFixed(0)} d`;
      const note = name.endsWith('.previous')
        ? '  (a rotation did not finish: foobar secrets rotate)'
        : '';
      io.stdout.write(
        `${name.padEnd(24)} ${age.padStart(6)} old  ${path.join(dir, name)}${note}\n`,
      );
    }
    return 0;
  }
  if (sub !== 'rotate') throw new UsageError(SECRETS_USAGE);
  const rotations = await withLabLock(labLock(ctx), 'foobar secrets rotate', () =>
    rotateSecrets(ctx, names, (line) => io.stdout.write(`${line}\n`)),
  );
  for (const r of rotations) {
    io.stdout.write(
      `${r.secret} rotated in ${r.seconds.toFixed(1)} s${r.resumed ? ' (an interrupted rotation, finished)' : ''}\n`,
    );
  }
  return 0;
}

const DB_USAGE =
  'usage: foobar db status [--json] | switchover [--to HOST] | promote HOST [--force] | rejoin HOST [--reseed] | failover pause|resume | backup | backups | restore --at TIME|GTID [--to HOST] [--force] | restore --discard';

/** `--at`: a GTID (up to and with it) or a time (the instant before it, to the second). */
function restoreTarget(at: string | undefined): string {
  if (at === undefined) throw new UsageError('usage: foobar db restore --at TIME|GTID [--to HOST]');
  if (/^\d+-\d+-\d+(,\d+-\d+-\d+)*$/.test(at)) return `gtid=${at}`;
  const time = Date.parse(at);
  if (Number.isNaN(time))
    throw new UsageError(
      `--at ${at}: expected a time (2026-12-03T12:00:00Z) or a GTID (0-31-1234)`,
    );
  return `time=${new Date(time).toISOString()}`;
}

async function dbCommand(args: string[], io: Io): Promise<number> {
  const subIndex = args.findIndex((arg, i) => !arg.startsWith('-') && args[i - 1] !== '--config');
  const sub = subIndex === -1 ? undefined : args[subIndex];
  const rest = args.filter((_, i) => i !== subIndex);
  const change = async (
    values: { config?: string | undefined; json?: boolean | undefined },
    what: string,
    work: (ctx: Context) => Promise<ChangeReport>,
  ): Promise<number> => {
    const model = loadModel(configPath(values.config));
    const ctx = createContext(model);
    const changed = await withLabLock(labLock(ctx), `foobar db ${what}`, () => work(ctx));
    // The failover managers learn of the new epoch at once (they would from database.json too).
    const state = await readDbState(ctx);
    const untold = await recordManualTopology(ctx, state.epoch, state.primary);
    const done = untold === undefined ? changed : { ...changed, notes: [...changed.notes, untold] };
    report(io, values.json, done, formatChange);
    return 0;
  };
  switch (sub) {
    case 'status': {
      const { values } = parse(rest, { json: { type: 'boolean' } });
      const model = loadModel(configPath(values.config));
      const status = await dbStatus(createContext(model));
      report(io, values.json, status, formatDbStatus);
      return EXIT_CODES[status.health];
    }
    case 'switchover': {
      const { values } = parse(rest, { to: { type: 'string' }, json: { type: 'boolean' } });
      return change(values, 'switchover', (ctx) => switchover(ctx, values.to));
    }
    case 'promote': {
      const { values, positionals } = parse(
        rest,
        { force: { type: 'boolean' }, json: { type: 'boolean' } },
        1,
      );
      const host = positionals[0];
      if (host === undefined) throw new UsageError('usage: foobar db promote HOST [--force]');
      return change(values, `promote ${host}`, (ctx) =>
        promoteReplica(ctx, host, { force: values.force === true }),
      );
    }
    case 'rejoin': {
      const { values, positionals } = parse(
        rest,
        { reseed: { type: 'boolean' }, json: { type: 'boolean' } },
        1,
      );
      const host = positionals[0];
      if (host === undefined) throw new UsageError('usage: foobar db rejoin HOST [--reseed]');
      return change(values, `rejoin ${host}`, (ctx) =>
        rejoin(ctx, host, { reseed: values.reseed === true }),
      );
    }
    case 'backup': {
      const { values } = parse(rest, { json: { type: 'boolean' } });
      const model = loadModel(configPath(values.config));
      const backup = await takeBackup(createContext(model));
      report(
        io,
        values.json,
        backup,
        (b) =>
          `full backup ${b.id} taken from ${b.source}: ${(b.sealed.bytes / 1_048_576).toFixed(1)} MB stored, GTID ${b.gtid}\n`,
      );
      return 0;
    }
    case 'backups': {
      const { values } = parse(rest, { json: { type: 'boolean' } });
      const model = loadModel(configPath(values.config));
      const catalog = await listBackups(createContext(model));
      report(io, values.json, catalog, (c) => formatBackups(c));
      return 0;
    }
    case 'restore': {
      const { values } = parse(rest, {
        at: { type: 'string' },
        to: { type: 'string' },
        force: { type: 'boolean' },
        discard: { type: 'boolean' },
        json: { type: 'boolean' },
      });
      const model = loadModel(configPath(values.config));
      const ctx = createContext(model);
      if (values.discard === true) {
        const stopped = await discardScratch(ctx);
        io.stdout.write(stopped ? 'scratch server stopped and deleted\n' : 'no scratch server\n');
        return 0;
      }
      const target = restoreTarget(values.at);
      const scratch = backupHost(model)?.name;
      if (values.to !== undefined && values.to !== scratch) {
        requireHost(model, values.to);
        const to = values.to;
        const line = progressLine(io.stderr);
        const restored = await withLabLock(labLock(ctx), `foobar db restore --to ${to}`, () =>
          restoreToHost(ctx, {
            target,
            to,
            force: values.force === true,
            progress: (text) => {
              line.update(text, true);
            },
            log: (text) => {
              line.clear();
              io.stderr.write(`${text}\n`);
            },
          }),
        );
        line.clear();
        report(io, values.json, restored, (r) => formatHostRestore(r));
        return 0;
      }
      const line = progressLine(io.stderr);
      const restored = await withLabLock(labLock(ctx), 'foobar db restore', () =>
        restoreToScratch(ctx, {
          target,
          progress: (text) => {
            line.update(text);
          },
        }),
      );
      line.clear();
      report(
        io,
        values.json,
        restored,
        (r) =>
          `restored ${target} onto ${r.to} in ${r.seconds.toFixed(1)} s (RTO): full backup ${r.plan.backup.id} + ${r.plan.binlogs.length} binary log(s), now at GTID ${r.gtid}\n` +
          `inspect it: foobar exec ${scratch ?? 'backup'} -- mariadb --socket=${r.socket}; discard it: foobar db restore --discard\n`,
      );
      return 0;
    }
    case 'failover': {
      const { values, positionals } = parse(rest, { reason: { type: 'string' } }, 1);
      const action = positionals[0];
      const model = loadModel(configPath(values.config));
      const ctx = createContext(model);
      if (action === 'pause') {
        const pause = await pauseFailover(ctx, values.reason ?? '');
        io.stdout.write(
          `automatic failover paused by ${pause.by} (the managers keep watching; foobar db failover resume)\n`,
        );
        return 0;
      }
      if (action === 'resume') {
        await resumeFailover(ctx);
        io.stdout.write('automatic failover resumed\n');
        return 0;
      }
      throw new UsageError('usage: foobar db failover pause [--reason TEXT] | resume');
    }
    default:
      throw new UsageError(
        sub === undefined ? DB_USAGE : `unknown db command "${sub}": ${DB_USAGE}`,
      );
  }
}

/** A result as JSON for scripts, or formatted for a person. */
function report<T>(
  io: Io,
  json: boolean | undefined,
  value: T,
  format: (value: T, style: Style) => string,
): void {
  io.stdout.write(
    json === true ? `${JSON.stringify(value, null, 2)}\n` : format(value, styleFor(io.stdout)),
  );
}

function isStrategy(value: string): value is Strategy {
  return (STRATEGIES as readonly string[]).includes(value);
}

function requireHost(model: Model, name: string) {
  const host = findHost(model, name);
  if (host === undefined) {
    throw new UsageError(
      `no host "${name}" in this lab (hosts: ${model.hosts.map((h) => h.name).join(', ')})`,
    );
  }
  return host;
}
