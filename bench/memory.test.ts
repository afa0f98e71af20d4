import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeMemory, kindOf, memoryOf, parseRollup } from './memory.ts';

it('names a process by its kind: Node.js by its script, Nginx by its renamed title', () => {
  const node = '/var/lib/foobar/fb/runtime/node';
  assert.equal(
    kindOf([node, '/work/main/src/failover/main.ts', 'x.json']),
    'failover manager (node)',
  );
  assert.equal(kindOf([node, '/work/main/src/backup/main.ts']), 'backup agent (node)');
  // The bundles, run with a small heap: the flags come before the script.
  const bundles = '/var/lib/foobar/fb/daemons/0123456789ab';
  const heap = ['--max-semi-space-size=2', '--max-old-space-size=96'];
  for (const [file, kind] of [
    ['failover-manager.mjs', 'failover manager (node)'],
    ['backup.mjs', 'backup agent (node)'],
    ['log-rotator.mjs', 'log rotator (node)'],
  ] as const)
    assert.equal(kindOf([node, ...heap, `${bundles}/${file}`, 'x.json']), kind);
  assert.equal(
    kindOf([node, '/var/lib/foobar/fb/hosts/web-01/releases/0123/server.mjs']),
    'app (node)',
  );
  assert.equal(
    kindOf([node, '/work/main/src/load/visitors.ts', '--url', 'x']),
    'load generator (node)',
  );
  assert.equal(kindOf(['nginx: worker process']), 'nginx');
  assert.equal(kindOf(['nginx: master process nginx -c /x']), 'nginx');
  assert.equal(kindOf(['/usr/sbin/mariadbd', '--defaults-file=/x']), 'mariadbd');
  assert.equal(
    kindOf(['prometheus-node-exporter', '--web.listen-address=x']),
    'prometheus-node-exporter',
  );
});

it('describes the total and each kind, PSS/USS, the largest PSS first', () => {
  assert.equal(
    describeMemory(
      memoryOf([
        ['nginx', { processes: 4, mb: 100.2, ussMb: 60.1, dirtyMb: 50 }],
        ['mariadbd', { processes: 2, mb: 200.2, ussMb: 180.4, dirtyMb: 170 }],
      ]),
    ),
    'PSS 300 MB, USS 241 MB; per kind PSS/USS (processes): mariadbd 200/180 (2), nginx 100/60 (4)',
  );
});

it('reads PSS, USS (private clean + dirty) and private dirty from smaps_rollup', () => {
  const rollup = [
    '55d0c0000000-7ffd00000000 ---p 00000000 00:00 0                          [rollup]',
    'Rss:               20480 kB',
    'Pss:               10240 kB',
    'Pss_Dirty:          4096 kB',
    'Shared_Clean:      12288 kB',
    'Shared_Dirty:          0 kB',
    'Private_Clean:      1024 kB',
    'Private_Dirty:      4096 kB',
  ].join('\n');
  assert.deepEqual(parseRollup(rollup), { pssMb: 10, ussMb: 5, dirtyMb: 4 });
  assert.equal(parseRollup(''), undefined);
});
