import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlanningDriver } from './planning.ts';
import { RecordingDriver } from './recording.ts';

test('reads go through, writes and other commands are recorded, not made', async () => {
  const host = new RecordingDriver((_target, argv) =>
    argv[0] === 'test'
      ? { stdout: '', stderr: '', exitCode: argv[2] === '/etc/x' ? 0 : 1 }
      : undefined,
  );
  await host.writeFile('lb-01', '/etc/x/haproxy.cfg', 'a\nretries 3\nb\n');
  await host.writeFile('lb-01', '/etc/x/same.cfg', 'same\n');
  host.calls.length = 0;
  const plan = new PlanningDriver(host);

  await plan.exec('lb-01', { argv: ['ss', '-l'], readOnly: true });
  await plan.exec('lb-01', { argv: ['kill', '-s', 'USR2', '12'] });
  await plan.writeFile('lb-01', '/etc/x/haproxy.cfg', 'a\nretries 4\nb\n');
  await plan.writeFile('lb-01', '/etc/x/same.cfg', 'same\n');
  await plan.writeFile('lb-01', '/etc/x/key.pem', 'PRIVATE\n', 0o600);
  await plan.mkdir('lb-01', '/etc/x');
  await plan.mkdir('lb-01', '/etc/y');
  plan.action('lb-01', 'haproxy: reload');

  // Only reads reached the host; what was planned reads back as planned.
  assert.deepEqual(host.calls, [
    '[lb-01] $ ss -l',
    '[lb-01] $ test -d /etc/x',
    '[lb-01] $ test -d /etc/y',
  ]);
  assert.equal(await host.readFile('lb-01', '/etc/x/haproxy.cfg'), 'a\nretries 3\nb\n');
  assert.equal(await plan.readFile('lb-01', '/etc/x/haproxy.cfg'), 'a\nretries 4\nb\n');

  assert.deepEqual(
    plan.changes.map((c) =>
      c.kind === 'file' ? `${c.path} secret=${c.secret}` : c.kind === 'action' ? c.what : c.line,
    ),
    [
      '$ kill -s USR2 12',
      '/etc/x/haproxy.cfg secret=false',
      '/etc/x/key.pem secret=true',
      'mkdir /etc/y',
      'haproxy: reload',
    ],
  );
  const diff = plan.changes.find((c) => c.kind === 'file' && !c.secret);
  assert.ok(diff?.kind === 'file');
  assert.match(diff.diff, /^-retries 3\n\+retries 4$/m);
  const secret = plan.changes.find((c) => c.kind === 'file' && c.secret);
  assert.ok(secret?.kind === 'file');
  assert.equal(secret.diff, '', 'a secret is never diffed');
});

test('a stream between hosts is planned on the receiving host, and nothing runs', async () => {
  const host = new RecordingDriver();
  const plan = new PlanningDriver(host);
  const result = await plan.pipe(
    { target: 'db-01', command: { argv: ['mariadb-backup', '--backup', '--stream=mbstream'] } },
    { target: 'db-03', command: { argv: ['mbstream', '-x', '-C', '/var/lib/copy'] } },
  );
  assert.equal(result.bytes, 0);
  assert.deepEqual(host.calls, []);
  assert.deepEqual(plan.changes, [
    {
      kind: 'command',
      target: 'db-03',
      line: 'stream from db-01: $ mariadb-backup --backup --stream=mbstream | $ mbstream -x -C /var/lib/copy',
    },
  ]);
});
