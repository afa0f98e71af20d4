import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
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

  it('gives a command that ends with its input a pipe that closes when foobar ends, even killed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-attach-'));
    const said = path.join(dir, 'said');
    try {
      // From a script: no terminal, standard input /dev/null (which would end it at once).
      const script = [
        `const { attachProcess } = await import(${JSON.stringify(path.join(HERE, 'process.ts'))});`,
        "console.log('attached');",
        // Written aside, then renamed: the file appears whole (a redirect creates it empty first).
        `await attachProcess(['sh', '-c', 'cat >/dev/null; echo input closed >${said}.tmp; mv ${said}.tmp ${said}'], { endsWithInput: true });`,
      ].join('\n');
      const cli = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '--eval', script],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise((resolve) => cli.once('exit', resolve));
      for (let i = 0; i < 200 && !out.includes('attached'); i++)
        await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(existsSync(said), false, 'its input stayed open while foobar ran');
      cli.kill('SIGKILL');
      await exited;
      for (let i = 0; i < 40 && !existsSync(said); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(readFileSync(said, 'utf8'), 'input closed\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
