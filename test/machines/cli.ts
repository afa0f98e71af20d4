/**
 * The test machines, by hand (as root):
 *   npm run machines -- image            build (or check) the cached image
 *   npm run machines -- up 3 | up a b c  boot m1..m3 (or the given names)
 *   npm run machines -- status           each machine's state and memory
 *   npm run machines -- ssh m1 [CMD...]  a shell (or a command) on m1
 *   npm run machines -- down             stop everything and remove it
 * With FOOBAR_TEST_MACHINES=NAME (and FOOBAR_TEST_MACHINES_NET), the machines of that run, as
 * the tests name them: `FOOBAR_TEST_MACHINES=fbm1 npm run machines -- down` removes what an
 * interrupted test:machines left.
 */
import { NetnsDriver } from '../../src/drivers/netns.ts';
import { ensureImage, mb } from './image.ts';
import { Machines, machinesOfRun, runsOnThisMachine } from './machines.ts';

const USAGE = 'usage: npm run machines -- image | up N|NAME... | status | ssh NAME [CMD...] | down';

/** The machines are reached from this machine only: every command runs here (target null). */
const driver = new NetnsDriver((host) => {
  throw new Error(`the machines' tooling runs commands on this machine only, not in ${host}`);
});

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  const run = process.env.FOOBAR_TEST_MACHINES;
  const machines =
    run === undefined
      ? new Machines({ driver, say })
      : machinesOfRun(driver, { name: run, net: '10.90' }, say).machines;
  switch (command) {
    case 'image': {
      const started = Date.now();
      await ensureImage({ driver, say });
      say(`image: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    }
    case 'up': {
      const count = rest.length === 1 ? Number(rest[0]) : Number.NaN;
      const planned = machines.plan(Number.isInteger(count) ? count : rest);
      const image = await ensureImage({ driver, say });
      await machines.up(planned, image);
      say(`machines: known hosts pinned in ${machines.access.knownHosts}`);
      return 0;
    }
    case 'status': {
      for (const machine of machines.list()) {
        const state = await machines
          .run(machine, ['systemctl', 'is-system-running'], 10_000)
          .then((out) => out.stdout.trim())
          .catch((error: unknown) =>
            error instanceof Error ? error.message.split('\n')[0] : 'unreachable',
          );
        const memory = machines.memory(machine);
        say(
          `${machine.name}\t${machine.address}\t${state}\tPSS ${mb(memory.pssBytes)}, RSS ${mb(memory.rssBytes)}, ${memory.processes} processes`,
        );
      }
      return 0;
    }
    case 'ssh': {
      const [name, ...argv] = rest;
      if (name === undefined) break;
      return machines.attach(machines.machine(name), argv);
    }
    case 'down': {
      await machines.down();
      // The tests' machines are runs of their own: name them, or an interrupted run's stay unseen.
      const others = runsOnThisMachine().filter((name) => name !== run);
      for (const name of others)
        say(
          `machines: run ${name} has machines too (a test's): FOOBAR_TEST_MACHINES=${name} npm run machines -- down`,
        );
      return 0;
    }
    default:
      break;
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`machines: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
