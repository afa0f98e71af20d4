import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RecordingDriver } from '../../drivers/recording.ts';
import { buildModel } from '../../model/build.ts';
import { exampleModel } from '../../model/examples-testing.ts';
import { findHost, type Model } from '../../model/model.ts';
import {
  closeMirrors,
  mirrorSetAndRule,
  openMirrors,
  renderFirewall,
} from '../../render/nftables/index.ts';
import { inScratchNamespace, runChecker } from '../../render/testing.ts';
import { createContext } from '../../steps/context.ts';
import { daemonsOf } from '../../steps/services.ts';
import {
  ensureLogLimits,
  MIRROR_OPEN_SECONDS,
  unnamedResolvers,
  withMirrorsOpen,
} from './provision.ts';
import { machinesPlatform } from './index.ts';

const model = exampleModel('machines');

/** A driver that records each command with its input, `nft -f -` exiting with each of `exits`. */
function recording(exits: number[] = []): { driver: RecordingDriver; seen: string[] } {
  const seen: string[] = [];
  const driver = new RecordingDriver((target, argv, input) => {
    seen.push(`${String(target)}: ${argv.join(' ')}${input === undefined ? '' : `\n${input}`}`);
    if (argv[0] === 'nft') return { stdout: '', stderr: '', exitCode: exits.shift() ?? 0 };
    return undefined;
  });
  return { driver, seen };
}

const install = (ctx: ReturnType<typeof createContext>) => () =>
  ctx.driver.exec('web-01', { argv: ['apt-get', 'install', 'nginx'] });

describe('the package mirror while provisioning installs', () => {
  it('is opened (expiring by itself) for apt-get only, and closed after', async () => {
    const { driver, seen } = recording();
    const ctx = createContext(model, driver);
    await withMirrorsOpen(ctx, 'web-01', install(ctx));
    assert.deepEqual(seen, [
      `web-01: nft -f -\nadd element inet foobar mirrors { 192.0.2.0/28 timeout ${MIRROR_OPEN_SECONDS}s }\n`,
      'web-01: apt-get install nginx',
      'web-01: nft -f -\nflush set inet foobar mirrors\n',
    ]);
    // Past apt-get's own bound (30 min), the opening expires even if foobar never closes it.
    assert.equal(MIRROR_OPEN_SECONDS, 1860);
  });

  it('is closed when apt-get fails too', async () => {
    const seen: string[] = [];
    const driver = new RecordingDriver((_target, argv) => {
      seen.push(argv.join(' '));
      return argv[0] === 'apt-get' ? { stdout: '', stderr: 'E: 404', exitCode: 100 } : undefined;
    });
    const ctx = createContext(model, driver);
    await assert.rejects(withMirrorsOpen(ctx, 'web-01', install(ctx)), /404/);
    assert.deepEqual(seen, ['nft -f -', 'apt-get install nginx', 'nft -f -']);
  });

  it('adds the set and its rule to rules in force from before them, in one transaction', async () => {
    const { driver, seen } = recording([1]);
    const ctx = createContext(model, driver);
    await withMirrorsOpen(ctx, 'web-01', install(ctx));
    assert.equal(seen.length, 4);
    assert.equal(
      seen[1],
      `web-01: nft -f -\n${mirrorSetAndRule()}${openMirrors(['192.0.2.0/28'], MIRROR_OPEN_SECONDS)}`,
    );
  });

  it('opens nothing when the model names no mirror', async () => {
    const { driver, seen } = recording();
    const bare = buildModel({
      ...(model.given as Record<string, unknown>),
      machines: { resolvers: [], timeServers: [], mirrors: [] },
    });
    const ctx = createContext(bare, driver);
    await withMirrorsOpen(ctx, 'web-01', install(ctx));
    assert.deepEqual(seen, ['web-01: apt-get install nginx']);
  });

  it('works on nftables itself: the rules in force, rules from before the set, no table at all', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-mirror-'));
    try {
      const rules = (m: Model): string => {
        const host = findHost(m, 'web-01');
        assert.ok(host !== undefined);
        return renderFirewall(m, host);
      };
      const write = (name: string, text: string): string => {
        const file = path.join(dir, name);
        writeFileSync(file, text);
        return file;
      };
      const current = write('current.nft', rules(model));
      const before = write(
        'before.nft',
        rules(
          buildModel({
            ...(model.given as Record<string, unknown>),
            machines: { resolvers: [], timeServers: [], mirrors: [] },
          }),
        ),
      );
      const open = write('open.nft', openMirrors(['192.0.2.0/28', '198.51.100.80'], 60));
      const add = write('add.nft', `${mirrorSetAndRule()}${openMirrors(['192.0.2.0/28'], 60)}`);
      const close = write('close.nft', closeMirrors());
      // Each in a scratch namespace of its own: this machine's ruleset is never touched.
      const run = async (script: string): Promise<string> => {
        const result = await runChecker(inScratchNamespace({ argv: ['sh', '-c', script] }));
        assert.equal(result.exitCode, 0, result.stderr);
        return result.stdout;
      };
      const listed = await run(
        `nft -f ${current} && nft -f ${open} && nft list set inet foobar mirrors && echo -- && nft -f ${close} && nft list set inet foobar mirrors && echo -- && nft -f ${open} && nft -f ${current} && nft list set inet foobar mirrors`,
      );
      const [opened, closed, reloaded] = listed.split('--\n');
      assert.match(
        opened ?? '',
        /192\.0\.2\.0\/28 timeout 1m expires .*198\.51\.100\.80 timeout 1m/,
      );
      assert.doesNotMatch(closed ?? '', /elements/);
      assert.doesNotMatch(reloaded ?? '', /elements/, 'loading the rules closes the mirror');
      // Rules from before the set: the plain opening fails, the one that adds set and rule works.
      const old = await run(
        `nft -f ${before} && ! nft -f ${open} 2>/dev/null && nft -f ${add} && nft list chain inet foobar output`,
      );
      assert.match(old, /policy drop;\n\s+ip daddr @mirrors tcp dport \{ 80, 443 \} accept/);
      // No table (a machine's first up): both fail, and nothing is made.
      const none = await run(
        `! nft -f ${open} 2>/dev/null && ! nft -f ${add} 2>/dev/null && nft list ruleset`,
      );
      assert.equal(none.trim(), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the resolver a machine uses', () => {
  const conf = [
    '# from the provider',
    'nameserver 198.51.100.53',
    'nameserver 10.255.255.53',
    '  nameserver 127.0.0.53',
    'nameserver 2001:db8::53',
    'search example.net',
    'options timeout:1',
    '',
  ].join('\n');

  it('is compared with the model’s: an IPv4 one no block names is reported, loopback passes', () => {
    assert.deepEqual(unnamedResolvers(conf, ['198.51.100.53']), ['10.255.255.53']);
    assert.deepEqual(unnamedResolvers(conf, ['198.51.100.0/24', '10.255.255.53']), []);
    assert.deepEqual(unnamedResolvers(conf, []), ['198.51.100.53', '10.255.255.53']);
    assert.deepEqual(unnamedResolvers('', []), []);
  });

  it('is read by preflight in the same round trip as the system, and said when unnamed', async () => {
    const files: Record<string, string> = {
      '/etc/os-release': 'ID=debian\nVERSION_ID="12"\n',
      '/etc/resolv.conf': conf,
    };
    const reads: string[][] = [];
    const driver = new RecordingDriver();
    driver.readFiles = (_target, names) => {
      reads.push([...names]);
      return Promise.resolve(names.map((name) => files[name]));
    };
    const ctx = createContext(model, driver);
    const web = machinesPlatform(driver)
      .provision(ctx)
      .preflight.find((task) => task.title === 'web-01');
    assert.ok(web !== undefined);
    assert.equal(
      await web.run(),
      'Debian 12, reachable over SSH; its /etc/resolv.conf names 10.255.255.53, which machines.resolvers does not: its firewall refuses those lookups (name them there, or point the machine at a named one)',
    );
    assert.deepEqual(reads, [['/etc/os-release', '/etc/resolv.conf']]);
    files['/etc/resolv.conf'] = 'nameserver 198.51.100.54\n';
    assert.equal(await web.run(), 'Debian 12, reachable over SSH');
  });
});

describe('the log limits on a machine', () => {
  const timerFile = '/etc/systemd/system/foobar-logrotate.timer';
  const web01 = findHost(model, 'web-01') ?? assert.fail('no web-01');
  const run = async (read: Map<string, string | undefined>) => {
    const driver = new RecordingDriver();
    const ctx = createContext(model, driver);
    const done = await ensureLogLimits(ctx, 'web-01', await daemonsOf(ctx, web01, true), read);
    return { done, calls: driver.calls.filter((c) => !c.includes('write ')) };
  };

  it('starts logrotate’s service, which looks every 2 s, on a fresh machine', async () => {
    const { done, calls } = await run(new Map());
    assert.deepEqual(done, ['journal limits set', 'log files rotated every 2 s']);
    assert.deepEqual(
      calls.filter((c) => c.includes('systemctl')),
      [
        '[web-01] $ systemctl restart systemd-journald.service',
        '[web-01] $ systemctl daemon-reload',
        '[web-01] $ env SYSTEMCTL_SKIP_SYSV=1 systemctl enable --quiet --no-reload foobar-logrotate.service',
        '[web-01] $ systemctl restart foobar-logrotate.service',
      ],
    );
  });

  it('removes the every-minute timer of earlier versions, and restarts nothing that is in order', async () => {
    const fresh = new RecordingDriver();
    const ctx = createContext(model, fresh);
    await ensureLogLimits(ctx, 'web-01', await daemonsOf(ctx, web01, true), new Map());
    const read = new Map<string, string | undefined>(
      [...fresh.files.entries()].map(([file, content]) => [file, content.toString('utf8')]),
    );
    read.set(timerFile, '[Timer]\nOnUnitActiveSec=1min\n');
    const { done, calls } = await run(read);
    assert.deepEqual(done, []);
    assert.deepEqual(calls, [
      '[web-01] $ env SYSTEMCTL_SKIP_SYSV=1 systemctl disable --now --quiet foobar-logrotate.timer',
      `[web-01] remove ${timerFile}`,
      '[web-01] $ systemctl daemon-reload',
    ]);
  });
});
