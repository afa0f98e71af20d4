/** etcd (Debian's etcd-server), a member of the failover managers' cluster, in the foreground. */
import type { Command } from '../drivers/driver.ts';

export interface EtcdMember {
  readonly name: string;
  readonly dataDir: string;
  /** http://<core>:<peer port> */
  readonly peerUrl: string;
  /** Where it listens for clients: its core address and loopback. */
  readonly clientUrls: readonly string[];
  /** What other members and clients are told to use. */
  readonly advertiseClientUrl: string;
  /** name=peerUrl,... for every member. */
  readonly initialCluster: string;
  readonly clusterToken: string;
  readonly heartbeatMs: number;
  readonly electionMs: number;
}

export const etcd = {
  start: (m: EtcdMember): Command => ({
    argv: [
      'etcd',
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--listen-client-urls=${m.clientUrls.join(',')}`,
      `--advertise-client-urls=${m.advertiseClientUrl}`,
      `--initial-cluster=${m.initialCluster}`,
      // Ignored once the data directory exists: a restarted member rejoins its cluster.
      '--initial-cluster-state=new',
      `--initial-cluster-token=${m.clusterToken}`,
      `--heartbeat-interval=${m.heartbeatMs}`,
      `--election-timeout=${m.electionMs}`,
      // Its own metrics would be a second listener; the managers' /metrics say what matters.
      '--log-level=warn',
      // Small in memory: the managers' keys are a few, written every few seconds. etcd keeps
      // every raft entry since its last snapshot (100,000 by default) and every revision of every
      // key; the managers compare only the latest revision (compare-and-swap), never read history.
      // A snapshot keeps the last 5,000 entries for slow followers (fixed in 3.4), so a member
      // holds 5,000 + snapshot-count: at the managers' 3 writes a second, with 10,000 it grew
      // for the first hour and swung between 5,000 and 15,000 after; with 1,000 it reaches 6,000
      // within half an hour and stays there (a snapshot every 5-6 minutes, of a few keys).
      '--snapshot-count=1000',
      '--auto-compaction-mode=periodic',
      '--auto-compaction-retention=10m',
    ],
  }),
};
