import assert from 'node:assert/strict';
import { it } from 'node:test';
import { RecordingDriver } from '../../drivers/recording.ts';
import { buildModel } from '../../model/build.ts';
import { createContext } from '../../steps/context.ts';
import { preflightProblems } from './preflight.ts';

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
        !p.startsWith('not root') && !p.startsWith('missing programs') && !p.startsWith('no user'),
    ),
    [
      'the edge network 10.77.1.0/24 overlaps 10.77.0.0/16 on eth0: choose another subnet in foobar.yaml (networks/edge/subnet)',
      'the core network 10.77.2.0/24 overlaps 10.77.0.0/16 on eth0: choose another subnet in foobar.yaml (networks/core/subnet)',
      'namespaces fb-web-01, fb-net already exist but /var/lib/foobar/fb has no record of them: they are left from an earlier run (or another lab of the same name). Run `foobar down` to remove them, or give this lab another name (lab/name in foobar.yaml).',
    ],
  );
});
