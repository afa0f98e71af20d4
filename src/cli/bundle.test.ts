import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { runProcess } from '../drivers/process.ts';
import {
  buildCli,
  CLI_CACHE,
  CLI_SOURCE,
  cliBundleFile,
  cliKey,
  cliModule,
  isBundleOf,
} from './bundle.ts';
import { currentBundle } from './bundle-key.js';

const REPO = path.resolve(import.meta.dirname, '../..');

describe('the bundled command line', () => {
  it('keys a bundle by its sources: a changed or added source changes the key, a test does not', () => {
    const repo = mkdtempSync(path.join(os.tmpdir(), 'foobar-clikey-'));
    try {
      for (const dir of ['src/cli', 'app/src', 'node_modules/esbuild'])
        mkdirSync(path.join(repo, dir), { recursive: true });
      writeFileSync(path.join(repo, 'src/cli/main.ts'), 'export {};\n');
      writeFileSync(path.join(repo, 'app/src/db.ts'), 'export {};\n');
      writeFileSync(path.join(repo, 'package-lock.json'), '{}\n');
      writeFileSync(path.join(repo, 'node_modules/esbuild/package.json'), '{}\n');
      const first = cliKey(repo);
      assert.equal(cliKey(repo), first);
      writeFileSync(path.join(repo, 'src/cli/main.test.ts'), 'export {};\n');
      assert.equal(cliKey(repo), first, 'a test is not in the bundle');
      utimesSync(path.join(repo, 'src/cli/main.ts'), new Date(), new Date(Date.now() + 5000));
      const edited = cliKey(repo);
      assert.notEqual(edited, first, 'an edited source');
      writeFileSync(path.join(repo, 'app/src/tls.ts'), 'export {};\n');
      assert.notEqual(cliKey(repo), edited, "an added source of the app's");
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('has one file per checkout, rebuilt when its first line names other sources', () => {
    assert.equal(cliBundleFile('/a'), cliBundleFile('/a'));
    assert.notEqual(cliBundleFile('/a'), cliBundleFile('/b'));
    assert.equal(path.dirname(cliBundleFile()), CLI_CACHE);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-clihead-'));
    try {
      const file = path.join(dir, 'cli.mjs');
      assert.equal(isBundleOf(file, 'k1'), false, 'no bundle yet');
      writeFileSync(file, "// foobar's command line, bundled from sources k1\nexport {};\n");
      assert.equal(isBundleOf(file, 'k1'), true);
      assert.equal(isBundleOf(file, 'k2'), false, 'a bundle of other sources');
      writeFileSync(file, '// foobar');
      assert.equal(isBundleOf(file, 'k1'), false, 'a bundle cut short');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts a command from an up-to-date bundle without loading a TypeScript file', async () => {
    // The bundle of these sources, as the first command after a change builds it.
    const url = await cliModule({});
    assert.equal(url, pathToFileURL(cliBundleFile()).href, 'the bundle, not the sources');
    assert.equal(currentBundle({}), url);
    // With type stripping off, Node.js refuses any .ts file: the whole way in must be JavaScript.
    const help = await runProcess(
      [
        process.execPath,
        '--no-experimental-strip-types',
        path.join(REPO, 'bin/foobar.js'),
        '--help',
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(help.exitCode, 0, help.stderr);
    assert.match(help.stdout, /^Usage: foobar /m);
    assert.equal(currentBundle({ FOOBAR_CLI_FROM_SOURCE: '1' }), undefined);
  });

  it('runs from its sources when asked to', async () => {
    assert.equal(await cliModule({ FOOBAR_CLI_FROM_SOURCE: '1' }), pathToFileURL(CLI_SOURCE).href);
  });

  it('plans the same `up` as its sources, every file of the checkout found where it is', async () => {
    // `up --dry-run` builds the app's release, foobar's daemons and the dashboard from the
    // checkout's files, each found from its module's own path (import.meta): the bundle must
    // find them in the same places.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-clibundle-'));
    const bundle = path.join(CLI_CACHE, `cli-test-${process.pid}.mjs`);
    try {
      await buildCli(bundle, 'test');
      assert.equal(isBundleOf(bundle, 'test'), true, 'its first line names its sources');
      const config = path.join(dir, 'foobar.yaml');
      writeFileSync(
        config,
        [
          'lab:',
          `  name: fbu${process.pid % 100}`,
          `  stateDir: ${path.join(dir, 'state')}`,
          'networks:',
          '  edge: { subnet: 10.70.1.0/24 }',
          '  core: { subnet: 10.70.2.0/24 }',
          '',
        ].join('\n'),
      );
      const run = (module: string, args: readonly string[]): ReturnType<typeof runProcess> =>
        runProcess(
          [
            process.execPath,
            '--input-type=module',
            '--eval',
            'const cli = await import(process.argv[1]); process.exitCode = await cli.main(process.argv.slice(2)); await cli.closeConnections();',
            module,
            ...args,
          ],
          { timeoutMs: 120_000, env: { ...process.env, NO_COLOR: '1' } },
        );
      // Dry runs' scratch directories, durations and the order of work done at once differ.
      const plan = (stdout: string): string[] =>
        stdout
          .replaceAll(/\/tmp\/foobar-dry-run-[A-Za-z0-9]+/g, 'SCRATCH')
          .replaceAll(/\d+(\.\d+)? s\b/g, 'N s')
          .split('\n')
          .sort();
      const sources = pathToFileURL(CLI_SOURCE).href;
      const bundled = pathToFileURL(bundle).href;
      const args = ['--config', config, 'up', '--dry-run'];
      const [fromSources, fromBundle] = await Promise.all([run(sources, args), run(bundled, args)]);
      assert.equal(fromSources.exitCode, 0, fromSources.stderr);
      assert.equal(fromBundle.exitCode, 0, fromBundle.stderr);
      assert.match(fromBundle.stdout, /haproxy -c /);
      assert.deepEqual(plan(fromBundle.stdout), plan(fromSources.stdout));
      const help = await run(bundled, ['--help']);
      assert.equal(help.exitCode, 0, help.stderr);
      assert.equal(help.stdout, (await run(sources, ['--help'])).stdout);
    } finally {
      rmSync(bundle, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
