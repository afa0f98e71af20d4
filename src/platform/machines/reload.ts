/**
 * `systemctl daemon-reload` on a host, shared by the writers that ask at once. `up` installs a
 * host's daemons in parallel, and each one whose unit changed asked for a reload of its own: 3–10
 * of them on a machine under load, 1–10 s each, one after the other in systemd. A reload that has
 * not started yet reads every file written before it starts, so a writer that asks while one is
 * waiting joins it; one that asks while a reload runs waits for the next.
 */
import { systemctl } from '../../commands/systemctl.ts';
import type { Driver } from '../../drivers/driver.ts';

interface HostReloads {
  /** Asked for and not started: a writer that asks now is covered by it. */
  waiting?: Promise<void>;
  /** The last one asked for: the next one starts after it. */
  last: Promise<void>;
}

const reloads = new WeakMap<Driver, Map<string, HostReloads>>();

export function reloadSystemd(driver: Driver, host: string): Promise<void> {
  let hosts = reloads.get(driver);
  if (hosts === undefined) {
    hosts = new Map();
    reloads.set(driver, hosts);
  }
  let state = hosts.get(host);
  if (state === undefined) {
    state = { last: Promise.resolve() };
    hosts.set(host, state);
  }
  if (state.waiting !== undefined) return state.waiting;
  const own = state;
  const next = own.last
    .catch(() => undefined)
    .then(async () => {
      // Started: what is written from here on needs another one.
      own.waiting = undefined;
      await driver.exec(host, systemctl.daemonReload());
    });
  own.waiting = next;
  own.last = next;
  return next;
}
