import assert from 'node:assert/strict';
import { it } from 'node:test';
import { RecordingDriver } from '../../drivers/recording.ts';
import { buildModel } from '../../model/build.ts';
import { createContext } from '../../steps/context.ts';
import { closedAncestors, preflightProblems } from './preflight.ts';

it('names leftover namespaces and subnets this machine already uses, and says what to do', async () => {
  const driver = new RecordingDriver((_target, argv) =>
    argv.join(' ') === 'ip -json route show'
      ? {
          stdout: JSON.stringify([
            { dst: 'default', dev: 'eth0' },
            { dst: '10.77.0.0/16', dev: 'eth0' },
          ]),
          stderr: '',
          exitCode: 0,
        }
      : undefined,
  );
  const ctx = createContext(buildModel(undefined), driver);
  const problems = await preflightProblems(ctx, new Set(['fb-web-01', 'fb-net', 'other-ns']));
  assert.deepEqual(
    problems.filter(
      (p) =>
        !p.startsWith('not root') &&
        !p.startsWith('missing programs') &&
        !p.startsWith('no user') &&
        !/ is mode \d+: /.test(p),
    ),
    [
      'the edge network 10.77.1.0/24 overlaps 10.77.0.0/16 on eth0: choose another subnet in foobar.yaml (networks/edge/subnet)',
      'the core network 10.77.2.0/24 overlaps 10.77.0.0/16 on eth0: choose another subnet in foobar.yaml (networks/core/subnet)',
      'namespaces fb-web-01, fb-net already exist but /var/lib/foobar/fb has no record of them: they are left from an earlier run (or another lab of the same name). Run `foobar down` to remove them, or give this lab another name (lab/name in foobar.yaml).',
    ],
  );
});

it("names a directory above the state directory that the daemons' users cannot pass, and the fix", () => {
  const modes = new Map([
    ['/var/lib/foobar', 0o700],
    ['/var/lib', 0o755],
    ['/var', 0o755],
    ['/', 0o755],
  ]);
  assert.deepEqual(
    closedAncestors('/var/lib/foobar/fb', (d) => modes.get(d)),
    [
      "/var/lib/foobar is mode 0700: the daemons' own users cannot reach the lab's files under it: run `chmod o+x /var/lib/foobar`",
    ],
  );
  modes.set('/var/lib/foobar', 0o711);
  assert.deepEqual(
    closedAncestors('/var/lib/foobar/fb', (d) => modes.get(d)),
    [],
  );
  // A state directory not made yet: only what exists above it is checked.
  assert.deepEqual(
    closedAncestors('/var/lib/foobar/new/fb', (d) => modes.get(d)),
    [],
  );
});

it('reads the modes through the driver, as stat prints them', async () => {
  const driver = new RecordingDriver((_target, argv) =>
    argv[0] === 'stat'
      ? { stdout: '755 /var/lib/foobar\n700 /var/lib\n755 /var\n755 /\n', stderr: '', exitCode: 1 }
      : undefined,
  );
  const problems = await preflightProblems(createContext(buildModel(undefined), driver), new Set());
  assert.deepEqual(
    problems.filter((p) => p.includes(' is mode ')),
    [
      "/var/lib is mode 0700: the daemons' own users cannot reach the lab's files under it: run `chmod o+x /var/lib`",
    ],
  );
});
