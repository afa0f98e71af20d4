/** `foobar up --plan`'s output: per host, what would be done to daemons, files and the rest. */
import type { PlannedChange } from '../drivers/planning.ts';
import { changesByHost, type UpChanges } from '../steps/up-plan.ts';
import type { Style } from './progress.ts';

function describe(change: PlannedChange, style: Style): string[] {
  switch (change.kind) {
    case 'action':
      return [`  ${style.bold(change.what)}`];
    case 'command':
      return [`  ${change.line}`];
    case 'file': {
      const what = change.created ? 'new file' : 'changed';
      if (change.secret) return [`  ${what} ${change.path} ${style.dim('(secret: not shown)')}`];
      const diff = change.diff
        .trimEnd()
        .split('\n')
        .map((line) => {
          if (line.startsWith('+') && !line.startsWith('+++')) return style.green(line);
          if (line.startsWith('-') && !line.startsWith('---')) return style.red(line);
          return line.startsWith('@@') ? style.dim(line) : line;
        });
      return [`  ${what} ${change.path}`, ...diff.map((line) => `    ${line}`)];
    }
  }
}

/** `site`: "lab NAME", or "machines NAME" for a deployment on machines. */
export function formatPlan(plan: UpChanges, site: string, style: Style): string {
  if (!plan.exists) {
    return `${site} is not up: \`foobar up\` would build all of it (\`foobar up --dry-run\` prints every command)\n`;
  }
  if (plan.changes.length === 0) return `${site}: nothing to change\n`;
  const lines: string[] = [];
  const byHost = changesByHost(plan.changes);
  for (const [host, changes] of byHost) {
    // Daemon actions first: they are what an operator weighs; files and commands explain them.
    const ordered = [
      ...changes.filter((c) => c.kind === 'action'),
      ...changes.filter((c) => c.kind !== 'action'),
    ];
    lines.push(
      style.bold(host ?? 'this machine'),
      ...ordered.flatMap((c) => describe(c, style)),
      '',
    );
  }
  const count = plan.changes.length;
  lines.push(
    `${site}: ${count} change${count === 1 ? '' : 's'} on ${byHost.size} host${byHost.size === 1 ? '' : 's'}; \`foobar up\` makes them`,
  );
  return `${lines.join('\n')}\n`;
}
