/**
 * The failover manager's process: `node src/failover/main.ts <config.json>`, started by `foobar up`
 * inside its host (so it observes from that host's network position). The config file holds the
 * host's name and the lab's model exactly as `up` built it.
 */
import { readFileSync } from 'node:fs';
import { NetnsDriver } from '../drivers/netns.ts';
import { etcdClientUrl, failoverMembers } from '../model/failover.ts';
import { labNames } from '../model/lab.ts';
import { findHost } from '../model/model.ts';
import { createContext } from '../steps/context.ts';
import { Etcd, fetchTransport } from './etcd.ts';
import { parseManagerConfig } from './config.ts';
import { FailoverManager, serveMetrics } from './manager.ts';
import { networkSql } from './sql.ts';

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: node src/failover/main.ts CONFIG.json\n');
  process.exit(2);
}
const { host: name, model } = parseManagerConfig(readFileSync(file, 'utf8'), file);
const me = findHost(model, name);
if (me === undefined) throw new Error(`${file}: ${name} is not a host of its model`);
const names = labNames(model);
const spawning = createContext(model, new NetnsDriver((host) => names.namespaceOf(host)));
// SQL over the network from this host: no client process per script on the way to writes.
const ctx = { ...spawning, sql: networkSql(model, spawning.secrets, me) };
// Its own member first; another member when its own is down.
const local = `http://127.0.0.1:${model.ports.etcdClient}`;
const others = failoverMembers(model)
  .filter((h) => h.name !== name)
  .map((h) => etcdClientUrl(model, h));
const timeoutMs = Math.max(300, model.failover.probeIntervalMs * 2);
const manager = new FailoverManager(
  ctx,
  me,
  new Etcd(fetchTransport([local, ...others], timeoutMs)),
);
const server = serveMetrics(manager, me, model.ports.failoverMetrics);
const stop = (): void => {
  manager.stop();
  server.close();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await manager.run();
process.exit(0);
