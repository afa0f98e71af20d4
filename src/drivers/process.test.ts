import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { exitCodeOf, runProcessLines } from './process.ts';

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

describe('runProcessLines', () => {
  it('hands over every line in order, the last one without its newline too, with the exit code and error output', async () => {
    const lines: string[] = [];
    const result = await runProcessLines(
      ['sh', '-c', 'printf "one\\ntwo\\n\\nthree"; echo oops >&2; exit 3'],
      (line) => {
        lines.push(line);
      },
    );
    assert.deepEqual(lines, ['one', 'two', '', 'three']);
    assert.equal(result.exitCode, 3);
    assert.equal(result.stderr, 'oops\n');
  });

  it('stops the process when a line is refused, and rejects with why', async () => {
    let seen = 0;
    const started = Date.now();
    await assert.rejects(
      runProcessLines(['yes'], () => {
        if (++seen === 1000) throw new Error('enough');
      }),
      /enough/,
    );
    assert.ok(Date.now() - started < 10_000, 'yes was stopped');
  });

  it('kills a process past its timeout', async () => {
    const result = await runProcessLines(['sleep', '30'], () => undefined, { timeoutMs: 200 });
    assert.equal(result.exitCode, -1);
    assert.match(result.stderr, /timed out/);
  });

  it('reads an output many times larger than its heap, which runProcess cannot collect', async () => {
    // 150 MB of lines, read by a Node.js whose old generation is capped at 16 MB.
    const big = ['sh', '-c', `yes ${'x'.repeat(79)} | head -c 150000000`];
    const reader = (how: string): Promise<{ code: number | null; out: string }> => {
      const script = [
        `const { runProcess, runProcessLines } = await import(${JSON.stringify(path.join(HERE, 'process.ts'))});`,
        `const argv = ${JSON.stringify(big)};`,
        how,
      ].join('\n');
      const child = spawn(
        process.execPath,
        ['--max-old-space-size=16', '--import', 'tsx', '--input-type=module', '--eval', script],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise((resolve) => {
        child.once('close', (code) => {
          resolve({ code, out });
        });
      });
    };
    const streamed = await reader(
      'let n = 0; let bytes = 0;\n' +
        'const r = await runProcessLines(argv, (line) => { n++; bytes += line.length + 1; });\n' +
        'console.log(n, bytes, r.exitCode);',
    );
    assert.deepEqual([streamed.code, streamed.out.trim()], [0, '1875000 150000000 0']);
    // The control: collected whole, the same output is more than that heap holds.
    const collected = await reader(
      'const r = await runProcess(argv); console.log(r.stdout.split("\\n").length);',
    );
    assert.notEqual(collected.code, 0, `runProcess read it all: ${collected.out}`);
  });
});

describe('exitCodeOf', () => {
  it('reports a code as it is, a signal as 128 and a timeout as -1', () => {
    assert.equal(exitCodeOf(0, null, false), 0);
    assert.equal(exitCodeOf(3, null, false), 3);
    assert.equal(exitCodeOf(null, 'SIGKILL', false), 128);
    assert.equal(exitCodeOf(null, 'SIGKILL', true), -1);
    assert.equal(exitCodeOf(0, null, true), -1);
    assert.equal(exitCodeOf(null, null, false), -1);
  });
});
