/**
 * Is a PID still our daemon? Namespaces share the PID space, a dead daemon re-parented to PID 1 can
 * linger as a zombie, and PIDs get reused: so read /proc, treat zombies as dead, and require a marker
 * (a path only our instance has on its command line).
 */
import type { Driver, Target } from '../../drivers/driver.ts';

export async function readPid(
  driver: Driver,
  target: Target,
  pidFile: string,
): Promise<number | undefined> {
  const text = await driver.readFile(target, pidFile);
  const pid = Number(text?.trim());
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

/** The process state letter from /proc/PID/stat (R, S, D, Z, ...), or undefined if it is gone. */
export async function processState(
  driver: Driver,
  target: Target,
  pid: number,
): Promise<string | undefined> {
  const stat = await driver.readFile(target, `/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name in parentheses may contain spaces or ')': the state follows the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

export async function isOurProcess(
  driver: Driver,
  target: Target,
  pid: number,
  marker: string,
): Promise<boolean> {
  const state = await processState(driver, target, pid);
  if (state === undefined || state === 'Z' || state === 'X') return false;
  const cmdline = await driver.readFile(target, `/proc/${pid}/cmdline`);
  return cmdline?.replaceAll('\0', ' ').includes(marker) === true;
}
