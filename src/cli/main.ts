/** The `foobar` command line: flags in, a step run through a driver, output out. Nothing else. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { NetnsDriver } from '../drivers/netns.ts';
import { RecordingDriver } from '../drivers/recording.ts';
import type { Driver } from '../drivers/driver.ts';
import { withLock } from '../lib/lock.ts';
import { labNames } from '../model/lab.ts';
import { hostPaths, labPaths } from '../model/layout.ts';
import { siteCurlFlags, siteUrl } from '../probes/site.ts';
import { firewallFile, renderFirewall } from '../render/nftables/index.ts';
import { configPath, loadModel } from '../model/load.ts';
import { findHost, hostsWithRole, type Model } from '../model/model.ts';
import { createContext, type Context } from '../steps/context.ts';
import { downPlan } from '../steps/down.ts';
import { runPlan, type Phase } from '../steps/plan.ts';
import { daemonsOf } from '../steps/services.ts';
import { EXIT_CODES, labStatus } from '../steps/status.ts';
import { upPlan } from '../steps/up.ts';
import { formatStatus } from './format.ts';
import { trustInstructions } from './trust.ts';
import { reporterFor, styleFor } from './progress.ts';

export const USAGE = `foobar — builds, runs and operates www.foobar.com

Usage: foobar [--config FILE] <command> [options]

Commands:
  up [--dry-run]              build the lab and start everything (idempotent)
  down [--purge]              stop everything, delete namespaces and links
                              (--purge also deletes state: releases, data, secrets)
  status [--json]             every host and service; exit 0 healthy, 1 degraded, 2 failed
  exec HOST -- CMD [ARG...]   run a command inside a host, exit code passed through
  logs HOST [SERVICE] [-n N] [-f]
                              show (or follow) a host's logs
  render [--out DIR]          print the rendered config files (or write them under DIR)
  ca                          where the lab's certificate authority is, and how to trust it

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

function labDriver(model: Model): Driver {
  const names = labNames(model);
  return new NetnsDriver((host) => names.namespaceOf(host));
}

async function runWithProgress(
  ctx: Context,
  command: string,
  phases: Phase[],
  io: Io,
): Promise<void> {
  await withLock(labPaths(ctx.model).lock, command, () => runPlan(phases, reporterFor(io.stdout)));
}

function siteSummary(model: Model): string {
  const lb = hostsWithRole(model, 'lb')[0];
  const flags = siteCurlFlags(model, lb?.addresses.edge).join(' ');
  return [
    `${siteUrl(model)} is up (HTTPS, certificate from the lab's CA: see foobar ca). From this machine:`,
    `  curl ${flags} ${siteUrl(model)}api/whoami`,
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
      const { values } = parse(own, { 'dry-run': { type: 'boolean' } });
      const model = loadModel(configPath(values.config));
      if (values['dry-run'] === true) {
        const driver = new RecordingDriver(undefined, { simulate: true });
        const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-dry-run-'));
        try {
          await runPlan(upPlan(createContext(model, driver), { buildsDir: scratch }));
        } finally {
          await fs.rm(scratch, { recursive: true, force: true });
        }
        io.stdout.write(`${driver.calls.join('\n')}\n`);
        return 0;
      }
      const ctx = createContext(model, labDriver(model));
      await runWithProgress(ctx, 'foobar up', upPlan(ctx), io);
      io.stdout.write(`\n${siteSummary(model)}\n`);
      return 0;
    }
    case 'down': {
      const { values } = parse(own, { purge: { type: 'boolean' } });
      const model = loadModel(configPath(values.config));
      const ctx = createContext(model, labDriver(model));
      await runWithProgress(
        ctx,
        'foobar down',
        downPlan(ctx, { purge: values.purge === true }),
        io,
      );
      return 0;
    }
    case 'status': {
      const { values } = parse(own, { json: { type: 'boolean' } });
      const model = loadModel(configPath(values.config));
      const status = await labStatus(createContext(model, labDriver(model)));
      io.stdout.write(
        values.json === true
          ? `${JSON.stringify(status, null, 2)}\n`
          : formatStatus(status, styleFor(io.stdout)),
      );
      return EXIT_CODES[status.health];
    }
    case 'exec': {
      const { values, positionals } = parse(own, {}, 1);
      const model = loadModel(configPath(values.config));
      const host = positionals[0];
      if (host === undefined || after.length === 0)
        throw new UsageError('usage: foobar exec HOST -- CMD [ARG...]');
      requireHost(model, host);
      return labDriver(model).attach(host, { argv: after });
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
      const driver = labDriver(model);
      const daemons = (await daemonsOf(createContext(model, driver), host)).filter(
        (d) => service === undefined || d.service === service,
      );
      if (daemons.length === 0) {
        const known = (await daemonsOf(createContext(model, driver), host)).map((d) => d.service);
        throw new UsageError(
          `${hostName} has no service "${service ?? ''}" (it has: ${known.join(', ') || 'none'})`,
        );
      }
      const files = daemons.flatMap((d) => [d.outputLog, ...d.logs]);
      const existing = (
        await Promise.all(
          files.map(async (f) => ((await driver.readFile(null, f)) === undefined ? [] : [f])),
        )
      ).flat();
      if (existing.length === 0)
        throw new Error(
          `no logs yet for ${hostName}${service === undefined ? '' : ` ${service}`}: is the lab up?`,
        );
      const lines = values.lines ?? '50';
      return driver.attach(null, {
        argv: ['tail', '-n', lines, ...(values.follow === true ? ['-F'] : []), ...existing],
      });
    }
    case 'ca': {
      const { values } = parse(own, {});
      const model = loadModel(configPath(values.config));
      const driver = labDriver(model);
      const pem = await driver.readFile(null, labPaths(model).caCertificate);
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
    default:
      throw new UsageError(`unknown command "${command}" (try foobar --help)`);
  }
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
