/** Shared by renderer tests: the default model, a host of it, and a scratch lab to run checkers in. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildModel } from '../model/build.ts';
import { hostPaths, type HostPaths } from '../model/layout.ts';
import { findHost, type Host, type Model } from '../model/model.ts';
import { runProcess } from '../drivers/process.ts';
import type { Command, ExecResult } from '../drivers/driver.ts';
import { newPrivateKey } from '../steps/tls.ts';

export interface Fixture {
  readonly model: Model;
  readonly host: Host;
  readonly paths: HostPaths;
}

export function fixture(hostName: string, config: Record<string, unknown> = {}): Fixture {
  const model = buildModel(config);
  const host = findHost(model, hostName);
  if (host === undefined) throw new Error(`no host ${hostName} in the test model`);
  return { model, host, paths: hostPaths(model, hostName) };
}

/** The same model with its state in a temporary directory, for the daemon's own checker. */
export function scratchFixture(
  hostName: string,
  config: Record<string, unknown> = {},
): Fixture & { dispose(): void } {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'foobar-render-'));
  return {
    ...fixture(hostName, { ...config, lab: { stateDir } }),
    dispose: () => {
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export async function runChecker(command: Command): Promise<ExecResult> {
  return runProcess(command.argv, command);
}

/**
 * A checker that needs a network namespace (nft -c) runs in a new, anonymous one: it sees an empty
 * ruleset and vanishes with the process, and this machine's own ruleset is never touched.
 */
export function inScratchNamespace(command: Command): Command {
  return { ...command, argv: ['unshare', '--net', '--', ...command.argv] };
}

/**
 * The same, after `setup` (a fixed shell script, run first inside the namespace) has given it what
 * the checker needs of the host: an interface, an address.
 */
export function inPreparedNamespace(setup: string, command: Command): Command {
  return inScratchNamespace({
    ...command,
    argv: ['sh', '-c', `${setup} && exec "$@"`, 'sh', ...command.argv],
  });
}

/**
 * A key (0600) and a self-signed certificate for `name`, written where a daemon's checker will
 * load them from; returns both PEMs.
 */
export async function selfSignedCertificate(
  files: { readonly cert: string; readonly key: string },
  name: string,
): Promise<{ cert: string; key: string }> {
  for (const file of [files.cert, files.key]) mkdirSync(path.dirname(file), { recursive: true });
  const key = newPrivateKey();
  writeFileSync(files.key, key, { mode: 0o600 });
  const made = await runChecker({
    argv: [
      'openssl',
      'req',
      '-new',
      '-x509',
      '-key',
      files.key,
      '-subj',
      `/CN=${name}`,
      '-days',
      '1',
    ],
  });
  assert.equal(made.exitCode, 0, made.stderr);
  writeFileSync(files.cert, made.stdout);
  return { cert: made.stdout, key };
}
