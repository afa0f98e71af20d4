/**
 * Machines: Debian 12 servers reached over SSH (src/drivers/ssh.ts), every daemon a systemd unit,
 * foobar's files in Debian's places (src/model/layout.ts's MACHINE_PATHS).
 */
import type { Driver } from '../../drivers/driver.ts';
import { systemctl } from '../../commands/systemctl.ts';
import type { Context } from '../../steps/context.ts';
import type { Daemon } from '../../steps/daemon.ts';
import { daemonsOf } from '../../steps/services.ts';
import type { Platform } from '../platform.ts';
import { provisionMachine, RESOLV_CONF, unnamedResolvers } from './provision.ts';
import { systemdSupervisor, unitFor, unitOf } from './supervisor.ts';

/** How long a machine has to answer before status calls it down. */
const PRESENT_TIMEOUT_MS = 10_000;

async function answers(ctx: Context, host: string): Promise<boolean> {
  try {
    const result = await ctx.driver.exec(
      host,
      { argv: ['true'], timeoutMs: PRESENT_TIMEOUT_MS, readOnly: true },
      { check: false },
    );
    return result.exitCode === 0;
  } catch {
    return false;
  }
}

/**
 * foobar's daemons on a host whose unit files (what `up` writes and `down` removes) are there, in
 * one round trip: `ls` names those that exist (and says nothing of the rest on stdout).
 */
async function daemonsWithUnits(
  ctx: Context,
  host: string,
): Promise<{ readonly daemon: Daemon; readonly path: string }[]> {
  const spec = ctx.model.hosts.find((h) => h.name === host);
  if (spec === undefined) return [];
  // Each unit is rendered once: its path is asked for, matched and removed.
  const units = (await daemonsOf(ctx, spec)).map((daemon) => ({
    daemon,
    path: unitFor(daemon).path,
  }));
  const listed = await ctx.driver.exec(
    host,
    { argv: ['ls', '-1d', '--', ...units.map((unit) => unit.path)], readOnly: true },
    { check: false },
  );
  const present = new Set(listed.stdout.split('\n'));
  return units.filter((unit) => present.has(unit.path));
}

/** Disables foobar's units on a machine and removes its unit files and drop-ins. */
async function removeUnits(ctx: Context, host: string): Promise<number> {
  const found = await daemonsWithUnits(ctx, host);
  if (found.length === 0) return 0;
  // One systemctl for them all, one rm for their files, then one reload of systemd.
  await ctx.driver.exec(host, systemctl.disable(...found.map((unit) => unitOf(unit.daemon))), {
    check: false,
  });
  await ctx.driver.exec(host, { argv: ['rm', '-f', '--', ...found.map((unit) => unit.path)] });
  await ctx.driver.exec(host, systemctl.daemonReload());
  return found.length;
}

export function machinesPlatform(driver: Driver): Platform {
  return {
    kind: 'machines',
    driver,
    supervisor: systemdSupervisor,
    provision(ctx) {
      return {
        preflight: ctx.model.hosts.map((host) => ({
          title: host.name,
          run: async () => {
            // One round trip: the system, and the resolver it uses (compared with the model's).
            const [release, resolvConf] = await ctx.driver.readFiles(host.name, [
              '/etc/os-release',
              RESOLV_CONF,
            ]);
            const version = /^VERSION_ID="?([^"\n]*)"?$/m.exec(release ?? '')?.[1];
            const id = /^ID=(\S+)$/m.exec(release ?? '')?.[1];
            if (id !== 'debian' || version !== '12') {
              throw new Error(
                `${host.name} runs ${id ?? 'an unknown system'} ${version ?? ''}: foobar's machines are Debian 12`,
              );
            }
            const named =
              ctx.model.platform.kind === 'machines' ? ctx.model.platform.outside : undefined;
            const unnamed = unnamedResolvers(resolvConf ?? '', named?.resolvers ?? []);
            return unnamed.length === 0
              ? 'Debian 12, reachable over SSH'
              : `Debian 12, reachable over SSH; its ${RESOLV_CONF} names ${unnamed.join(', ')}, which machines.resolvers does not: its firewall refuses those lookups (name them there, or point the machine at a named one)`;
          },
        })),
        hosts: {
          title: 'Machines',
          tasks: ctx.model.hosts.map((host) => ({
            title: host.name,
            run: () => provisionMachine(ctx, host.name),
          })),
        },
      };
    },
    teardown(ctx) {
      return {
        title: 'Machines',
        tasks: ctx.model.hosts.map((host) => ({
          title: host.name,
          run: async () => {
            const removed = await removeUnits(ctx, host.name);
            // Provisioned machines stay provisioned: packages, the user, the runtime, the data.
            return removed === 0 ? 'no units of foobar' : `${removed} units disabled and removed`;
          },
        })),
      };
    },
    async built(ctx) {
      const found = await Promise.all(ctx.model.hosts.map((h) => daemonsWithUnits(ctx, h.name)));
      return found.some((daemons) => daemons.length > 0);
    },
    async present(ctx) {
      const up = await Promise.all(ctx.model.hosts.map((h) => answers(ctx, h.name)));
      const names = new Set(ctx.model.hosts.filter((_, i) => up[i] === true).map((h) => h.name));
      return (host) => names.has(host);
    },
  };
}
