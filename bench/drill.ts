/**
 * `npm run drill`: the whole drill matrix (or the faults named after `--`) on a lab of its own,
 * brought up for it and taken down after, so a run never touches a lab in use. Arguments go to
 * `foobar drill`: `npm run drill -- --markdown /tmp/drill.md`, `npm run drill -- web-01:app-killed`.
 * Never part of `npm test`: 17 faults take ~7 minutes here. FOOBAR_DRILL_LAB / FOOBAR_DRILL_NET
 * choose the lab's name and network (default fbd, 10.78).
 */
import { spawn } from 'node:child_process';
import { createTestLab } from '../test/support/lab.ts';

async function main(): Promise<number> {
  const lab = createTestLab(
    {},
    {
      name: process.env.FOOBAR_DRILL_LAB ?? 'fbd',
      net: process.env.FOOBAR_DRILL_NET ?? '10.78',
    },
  );
  process.stderr.write(`bringing up lab ${lab.model.lab.name} for the drill\n`);
  // A lab of this name left by an interrupted run would be in the way.
  await lab.down();
  try {
    await lab.up();
    // The real command, with this terminal: its progress line, its Ctrl-C handling.
    const [node = '', ...args] = lab.cliArgv('drill', ...process.argv.slice(2));
    const child = spawn(node, args, { stdio: 'inherit' });
    // Ctrl-C reaches the drill too (same process group): let it heal, then take the lab down.
    const ignore = (): void => undefined;
    process.on('SIGINT', ignore);
    process.on('SIGTERM', ignore);
    return await new Promise<number>((resolve) => {
      child.on('close', (code) => {
        resolve(code ?? 1);
      });
    });
  } finally {
    await lab.down(true);
    lab.removeConfig();
  }
}

process.exitCode = await main();
