/** Checks before the lab is touched: each problem says what to do about it. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { MONITORING_USER } from '../../commands/monitoring.ts';
import { labPaths, APP_USER } from '../../model/layout.ts';
import { labNamespaces } from '../../model/lab.ts';
import type { Context } from '../../steps/context.ts';
import { subnetConflicts } from './network.ts';
import { NSD_USER } from '../../render/dns/index.ts';
import { readLabRecord } from './record.ts';

/** Programs from Debian packages that the lab runs (scripts/bootstrap.sh installs them). */
export const REQUIRED_PROGRAMS = [
  'ip',
  'haproxy',
  'nginx',
  'nsd',
  'nsd-checkconf',
  'nsd-checkzone',
  'nft',
  'openssl',
  'dig',
  'curl',
  'socat',
  'setpriv',
  'sha256sum',
  'mariadbd',
  'mariadb',
  'mariadb-admin',
  'mariadb-install-db',
  'mariadb-backup',
  'prometheus',
  'promtool',
  'prometheus-alertmanager',
  'amtool',
  'prometheus-node-exporter',
  'prometheus-nginx-exporter',
  'prometheus-mysqld-exporter',
  'prometheus-blackbox-exporter',
  'keepalived',
  'etcd',
] as const;

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function missingPrograms(programs: readonly string[]): string[] {
  return programs.filter(
    (program) => !SEARCH_PATH.some((dir) => existsSync(path.join(dir, program))),
  );
}

/**
 * The lab's daemons run as their own users (nsd, mysql, prometheus, foobar) and read their files
 * under the state directory: every existing directory above it must let others through (o+x). A
 * `mkdir -p -m 700` of a sibling made /var/lib/foobar 0700 once, and NSD then answered SERVFAIL
 * ("Permission denied" on its zone file) with nothing on the command line saying why.
 */
export function closedAncestors(
  dir: string,
  modeOf: (dir: string) => number | undefined,
): string[] {
  return ancestors(dir).flatMap((d) => {
    const mode = modeOf(d);
    return mode === undefined || (mode & 0o001) !== 0
      ? []
      : [
          `${d} is mode ${mode.toString(8).padStart(4, '0')}: the daemons' own users cannot reach the lab's files under it: run \`chmod o+x ${d}\``,
        ];
  });
}

function ancestors(dir: string): string[] {
  const found: string[] = [];
  for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
    found.push(d);
    if (d === path.dirname(d)) return found;
  }
}

/** The modes of the directories above `dir` that exist, read on this machine through the driver. */
async function ancestorModes(ctx: Context, dir: string): Promise<Map<string, number>> {
  const out = await ctx.driver.exec(
    null,
    { argv: ['stat', '-c', '%a %n', '--', ...ancestors(dir)], readOnly: true },
    { check: false },
  );
  const modes = new Map<string, number>();
  for (const line of out.stdout.split('\n')) {
    const match = /^([0-7]+) (.+)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined)
      modes.set(match[2], parseInt(match[1], 8));
  }
  return modes;
}

export async function preflightProblems(ctx: Context, existing: Set<string>): Promise<string[]> {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('not root: the lab needs root (run with sudo)');
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) {
    problems.push(
      `Node.js ${process.versions.node} is too old: run foobar through npm (npx foobar), which uses Node.js 24 from node_modules`,
    );
  }
  const missing = missingPrograms(REQUIRED_PROGRAMS);
  if (missing.length > 0) {
    problems.push(
      `missing programs: ${missing.join(', ')}: run \`bash scripts/bootstrap.sh\` (npm start does) to install them`,
    );
  }
  // Every user in one question (getent asks the system's user databases, as id does): a
  // process costs a command 10-20 ms here, and this runs before every command.
  const users = [
    [APP_USER, 'the app and the dashboard'],
    [MONITORING_USER, 'Prometheus and the exporters (Debian’s prometheus package creates it)'],
    [NSD_USER, 'the DNS server (the nsd package creates it)'],
  ] as const;
  const state = labPaths(ctx.model).state;
  const [found, modes, conflicts] = await Promise.all([
    ctx.driver.exec(
      null,
      { argv: ['getent', 'passwd', ...users.map(([user]) => user)], readOnly: true },
      { check: false },
    ),
    ancestorModes(ctx, state),
    subnetConflicts(ctx),
  ]);
  // Exit 0 when every user was found; else a "name:x:uid:..." line for each one that was.
  const known = new Set(found.stdout.split('\n').map((line) => line.split(':')[0]));
  for (const [user, what] of users) {
    if (found.exitCode !== 0 && !known.has(user))
      problems.push(`no user "${user}" to run ${what}: run \`bash scripts/bootstrap.sh\``);
  }
  problems.push(...closedAncestors(state, (d) => modes.get(d)));
  problems.push(...conflicts);
  const ours = labNamespaces(ctx.model).filter((ns) => existing.has(ns));
  if (ours.length > 0 && (await readLabRecord(ctx)) === undefined) {
    problems.push(
      `namespaces ${ours.join(', ')} already exist but ${labPaths(ctx.model).state} has no record of them: ` +
        'they are left from an earlier run (or another lab of the same name). Run `foobar down` to remove them, ' +
        'or give this lab another name (lab/name in foobar.yaml).',
    );
  }
  return problems;
}
