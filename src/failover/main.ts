/**
 * The failover manager's process: `node failover-manager.mjs <config.json>` (this file, bundled by
 * src/release/daemons.ts), started by `foobar up` on its host (so it observes from that host's
 * network position): in the lab inside its namespace, on machines as a systemd unit. The config
 * file holds the host's name and the model exactly as `up` built it.
 */
import { readFileSync } from 'node:fs';
import type { Driver } from '../drivers/driver.ts';
import { etcdClientUrl, failoverMembers, managedHosts, managerModel } from '../model/failover.ts';
import { hostPaths } from '../model/layout.ts';
import { findHost, type Model } from '../model/model.ts';
import { transitFiles } from '../model/transit.ts';
import { createContext } from '../steps/context.ts';
import { MANAGERS_ACCESS } from '../steps/failover-access.ts';
import { accessDriver } from '../steps/ssh-access.ts';
import { Etcd, httpTransport } from './etcd.ts';
import { parseManagerConfig } from './config.ts';
import { FailoverManager, serveMetrics } from './manager.ts';
import { networkSql } from './sql.ts';

/**
 * How it acts on the other hosts: in the lab by entering their namespaces, on machines over SSH
 * to their core addresses as root, with the managers' own key and pinned host keys
 * (steps/failover-access.ts).
 */
function managerDriver(model: Model): Driver {
  return accessDriver(MANAGERS_ACCESS, model, [...managedHosts(model), ...failoverMembers(model)]);
}

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: node src/failover/main.ts CONFIG.json\n');
  process.exit(2);
}
const given = parseManagerConfig(readFileSync(file, 'utf8'), file);
const name = given.host;
// On machines its own state directory stands for the operator's (model/failover.ts).
const model = given.model.platform.kind === 'machines' ? managerModel(given.model) : given.model;
const me = findHost(model, name);
if (me === undefined) throw new Error(`${file}: ${name} is not a host of its model`);
const spawning = createContext(model, managerDriver(model));
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
  new Etcd(httpTransport([local, ...others], timeoutMs)),
);
const server = serveMetrics(
  manager,
  me,
  model.ports.failoverMetrics,
  transitFiles(hostPaths(model, me.name), 'exporters'),
);
const stop = (): void => {
  manager.stop();
  server.close();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await manager.run();
process.exit(0);
