import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

const HERE = import.meta.dirname;

describe('attachProcess (foobar exec, foobar logs -f)', () => {
  it('survives Ctrl-C to the terminal’s group, cleans up after its child, and exits as a shell says', async () => {
    // A CLI attached to `sleep`, which prints once its attach has returned.
    const script = [
      `const { attachProcess } = await import(${JSON.stringify(path.join(HERE, 'process.ts'))});`,
      "console.log('attached');",
      "const code = await attachProcess(['sleep', '60']);",
      "console.log('cleaned up after', code);",
    ].join('\n');
    const cli = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      // Its own group, as a terminal's foreground job.
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
    for (let i = 0; i < 200 && !out.includes('attached'); i++)
      await new Promise((r) => setTimeout(r, 50));
    // Time for the child to start, then Ctrl-C to the whole group.
    await new Promise((r) => setTimeout(r, 300));
    process.kill(-(cli.pid ?? 0), 'SIGINT');
    assert.equal(await exited, 0, out);
    assert.match(out, /cleaned up after 130/);
  });
});
