/**
 * A firewall change on a host foobar reaches over the network, made so that it cannot lock the
 * operator out: before the new rules are applied, a timer started on the host will restore the
 * previous ones after `rollbackSeconds`; foobar cancels it only once it has reached the host again
 * over a new connection (the open one survives as an established flow, so it proves nothing).
 */
import { nft } from '../commands/nft.ts';
import { proc } from '../commands/proc.ts';
import type { Driver } from '../drivers/driver.ts';
import { sleep } from '../lib/wait.ts';
import { FIREWALL_TABLE, renderConnectionTracking } from '../render/nftables/index.ts';

/** How long a change has to prove itself before the host undoes it. */
export const ROLLBACK_SECONDS = 30;
/** Each new connection attempt waits this long for the host. */
const ATTEMPT_MS = 5000;

export class FirewallRolledBackError extends Error {
  readonly host: string;
  constructor(host: string, message: string) {
    super(message);
    this.name = 'FirewallRolledBackError';
    this.host = host;
  }
}

export type GuardedDriver = Driver & Required<Pick<Driver, 'reachAnew'>>;

export function reachesOverNetwork(driver: Driver): driver is GuardedDriver {
  return driver.reachAnew !== undefined;
}

export interface GuardedApply {
  /** From applying the rules to reaching the host anew. */
  readonly confirmedMs: number;
}

/** The rules in force now, as a file `nft -f` puts back (none: the table removed). */
function restoreScript(listed: string | undefined): string {
  const table = `${FIREWALL_TABLE.family} ${FIREWALL_TABLE.name}`;
  return `add table ${table}\ndelete table ${table}\n${listed ?? ''}`;
}

/**
 * Applies `file` (checked already) on `host`, kept only if foobar reaches the host anew within
 * `rollbackSeconds`; otherwise the host restores the previous rules by itself and this throws
 * FirewallRolledBackError, saying whether foobar reached the host again after the rollback.
 */
export async function applyGuarded(
  driver: GuardedDriver,
  host: string,
  file: string,
  rollbackSeconds = ROLLBACK_SECONDS,
): Promise<GuardedApply> {
  const listed = await driver.exec(
    host,
    nft.listTable(FIREWALL_TABLE.family, FIREWALL_TABLE.name),
    {
      check: false,
    },
  );
  const previous = `${file}.previous`;
  await driver.writeFile(
    host,
    previous,
    restoreScript(listed.exitCode === 0 ? listed.stdout : undefined),
    0o600,
  );
  const timer = await driver.spawn(host, nft.rollbackAfter(rollbackSeconds, previous, file), {
    logFile: `${file}.rollback.log`,
  });
  // No rules of ours yet: the host may not track the connections open to it (see
  // renderConnectionTracking), and the rules would reset the one this comes over.
  if (listed.exitCode !== 0)
    await driver.exec(host, nft.applyInput(renderConnectionTracking()), { check: false });
  const started = Date.now();
  const deadline = started + rollbackSeconds * 1000;
  // A ruleset that drops the open connection too leaves this waiting for the driver's timeout.
  await driver.exec(host, { ...nft.apply(file), timeoutMs: ATTEMPT_MS }, { check: false });
  let why = 'no attempt';
  while (Date.now() < deadline - 1000) {
    const answer = await driver.reachAnew(host, Math.min(ATTEMPT_MS, deadline - 1000 - Date.now()));
    if (answer === undefined) {
      const confirmedMs = Date.now() - started;
      const cancelled = await driver.exec(host, proc.kill('TERM', timer), { check: false });
      if (cancelled.exitCode !== 0) {
        throw new FirewallRolledBackError(
          host,
          `${host}: reached anew ${(confirmedMs / 1000).toFixed(1)} s after the new firewall, too late: the host had already restored the previous rules (run foobar up again)`,
        );
      }
      return { confirmedMs };
    }
    why = answer;
  }
  // The host restores the previous rules at the deadline: see that it is reachable again.
  await sleep(Math.max(0, deadline - Date.now()) + 1000);
  const back = await driver.reachAnew(host, 3 * ATTEMPT_MS);
  throw new FirewallRolledBackError(
    host,
    `${host}: the new firewall cut foobar off (no new SSH connection within ${rollbackSeconds} s: ${why}); ` +
      `the host restored the previous rules by itself after ${rollbackSeconds} s` +
      (back === undefined
        ? ', and foobar reaches it again. Check that the admin address in foobar.yaml is the one you connect from.'
        : `, yet foobar still cannot reach it (${back}).`),
  );
}
