import assert from 'node:assert/strict';
import { it } from 'node:test';
import { etcd } from './etcd.ts';

/** etcd 3.4 keeps this many raft entries after a snapshot, for slow followers (not a flag). */
const CATCH_UP_ENTRIES = 5000;

it('snapshots often enough that the raft log held in memory stays near its catch-up floor', () => {
  const { argv } = etcd.start({
    name: 'mon',
    dataDir: '/var/lib/foobar/etcd',
    peerUrl: 'http://10.0.2.10:2380',
    clientUrls: ['http://10.0.2.10:2379', 'http://127.0.0.1:2379'],
    advertiseClientUrl: 'http://10.0.2.10:2379',
    initialCluster: 'mon=http://10.0.2.10:2380',
    clusterToken: 'foobar',
    heartbeatMs: 100,
    electionMs: 1000,
  });
  const count = Number(
    /^--snapshot-count=(\d+)$/.exec(argv.find((a) => a.startsWith('--snapshot-count=')) ?? '')?.[1],
  );
  // The log swings between the floor and floor + count entries: at most a fifth above it.
  assert.ok(count > 0 && count <= CATCH_UP_ENTRIES / 5, `--snapshot-count=${count}`);
});
