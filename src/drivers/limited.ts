/**
 * A driver that runs at most `limit` commands at once and queues the rest. Probes that fan out to
 * every host and service (foobar status runs dozens of curl and mariadb commands together) each
 * carry a timeout of a few seconds: on a busy machine they time out waiting for a CPU, not for
 * the service, when all of them start at once.
 */
import type { Command, Driver, ExecOptions, ExecResult, Target } from './driver.ts';

export function limitedDriver(driver: Driver, limit: number): Driver {
  let running = 0;
  const waiting: (() => void)[] = [];
  const exec = async (
    target: Target,
    command: Command,
    options?: ExecOptions,
  ): Promise<ExecResult> => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await driver.exec(target, command, options);
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
  return {
    exec,
    attach: (target, command) => driver.attach(target, command),
    spawn: (target, command, options) => driver.spawn(target, command, options),
    writeFile: (target, file, content, mode) => driver.writeFile(target, file, content, mode),
    appendFile: (target, file, text, mode) => driver.appendFile(target, file, text, mode),
    readFile: (target, file) => driver.readFile(target, file),
    readFiles: (target, files) => driver.readFiles(target, files),
    mkdir: (target, dir, mode) => driver.mkdir(target, dir, mode),
    mkdirs: (target, dirs, mode) => driver.mkdirs(target, dirs, mode),
    remove: (target, file) => driver.remove(target, file),
    copyFile: (target, from, to) => driver.copyFile(target, from, to),
    copyDir: (target, from, to) => driver.copyDir(target, from, to),
    pipe: (from, to, options) => driver.pipe(from, to, options),
    symlink: (target, to, link) => driver.symlink(target, to, link),
    readlink: (target, link) => driver.readlink(target, link),
  };
}
