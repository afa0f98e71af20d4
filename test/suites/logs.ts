/** Logs that never fill a disk: rotated under the host's cap while the daemons keep writing. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sleep, waitFor } from '../../src/lib/wait.ts';
import { hostPaths } from '../../src/model/layout.ts';
import { addressOf, hostsWithRole } from '../../src/model/model.ts';
import { rotateBytes, rotatedName } from '../../src/platform/lab/logs.ts';
import { ROTATION_INTERVAL_MS, rotatorFiles } from '../../src/steps/logs.ts';
import { siteUrl } from '../../src/probes/site.ts';
import { haproxyFiles } from '../../src/render/haproxy/index.ts';
import { nginxFiles } from '../../src/render/nginx/index.ts';
import type { TestLab } from '../support/lab.ts';

const MB = 1024 * 1024;

/** Every file of the host's log directory with its size. */
function logSizes(lab: TestLab, host: string): Map<string, number> {
  const dir = hostPaths(lab.model, host).log;
  // A file the rotator deletes between the listing and its stat is not counted.
  return new Map(
    readdirSync(dir).map((name) => [
      name,
      statSync(path.join(dir, name), { throwIfNoEntry: false })?.size ?? 0,
    ]),
  );
}

/** Appends `bytes` of log-like lines: the log of a busy hour, written at once. */
function inflate(file: string, bytes: number): void {
  const line = `${'x'.repeat(199)}\n`;
  appendFileSync(file, line.repeat(Math.ceil(bytes / line.length)));
}

export function logsSuite(lab: TestLab): void {
  describe('logs', () => {
    const cap = lab.model.logs.maxMegabytesPerHost * MB;
    const lb = hostsWithRole(lab.model, 'lb')[0];
    const web = hostsWithRole(lab.model, 'web')[0];
    if (lb === undefined || web === undefined) throw new Error('the lab has no lb or web host');
    const cases = [
      // Nginx reopens its access log on USR1: renamed, nothing lost.
      { host: web, service: 'nginx', file: nginxFiles(hostPaths(lab.model, web.name)).accessLog },
      // HAProxy logs to its output, which foobar opened with O_APPEND: copied and truncated.
      { host: lb, service: 'haproxy', file: haproxyFiles(hostPaths(lab.model, lb.name)).log },
    ];

    it(`${lb.name} at full speed: HAProxy's log is rotated as it grows, never sparse, nothing emptied, the host within its cap`, async (t) => {
      // HAProxy makes its output non-blocking, which cleared the O_APPEND of its output file: after
      // a truncate it wrote on at its old offset, a sparse file the rotator took for one over the
      // cap and emptied at every pass, the lines since the last pass lost.
      const mon = hostsWithRole(lab.model, 'mon')[0];
      assert.ok(mon);
      const rotatorLog = rotatorFiles(lab.ctx, mon).log;
      const said = readFileSync(rotatorLog, 'utf8').length;
      const file = haproxyFiles(hostPaths(lab.model, lb.name)).log;
      // A host near its cap, as after days of traffic: older rotated copies up to 2 MB under it.
      // Each rotation now has to make room, and between passes HAProxy writes a few MB more.
      const room = cap - 2 * MB - [...logSizes(lab, lb.name).values()].reduce((a, b) => a + b, 0);
      const olds: string[] = [];
      for (let i = 0; i * 4 * MB < room; i++) {
        const at = new Date(Date.now() - (10 - i) * 3_600_000);
        const old = rotatedName(file, at);
        inflate(old, Math.min(4 * MB, room - i * 4 * MB));
        utimesSync(old, at, at);
        olds.push(path.basename(old));
      }
      // At full speed, in rounds of 5 s, until the rotator has rotated it twice (the second
      // rotation copies what HAProxy wrote after the first truncate): as fast as the machine goes.
      let sparse = '';
      let samples = 0;
      let peak = 0;
      let requests = 0;
      let since = '';
      const rotations = (): number =>
        since.split(`${lb.name}: haproxy.log copied and truncated`).length - 1;
      for (let round = 0; round < 12 && rotations() < 2; round++) {
        const run = lab.on('client', [
          'wrk',
          '-t2',
          '-c16',
          '-d5s',
          '-H',
          `Host: www.${lab.model.domain}`,
          `https://${addressOf(lb, 'edge')}/robots.txt`,
        ]);
        // Sampled while HAProxy writes: a sparse file shows right after a truncate.
        const wrk = { done: false };
        const finished = (): void => {
          wrk.done = true;
        };
        run.then(finished, finished);
        while (!wrk.done) {
          const st = statSync(file);
          if (st.blocks * 512 < st.size - MB)
            sparse ||= `${st.size} bytes, ${st.blocks * 512} on disk`;
          // The cap holds between the rotator's passes too, and while it copies a file.
          peak = Math.max(
            peak,
            [...logSizes(lab, lb.name).values()].reduce((a, b) => a + b, 0),
          );
          samples++;
          await sleep(200);
        }
        const result = await run;
        assert.equal(result.exitCode, 0, result.stderr);
        requests += Number(/(\d+) requests in/.exec(result.stdout)?.[1] ?? 0);
        await sleep(ROTATION_INTERVAL_MS);
        since = readFileSync(rotatorLog, 'utf8').slice(said);
      }
      t.diagnostic(
        `${requests} requests, ${rotations()} rotations of haproxy.log, ${samples} samples of it; ${lb.name}'s logs at most ${(peak / MB).toFixed(1)} MB of ${cap / MB}`,
      );
      assert.ok(rotations() >= 2, `rotated ${rotations()} times:\n${since}`);
      assert.doesNotMatch(since, new RegExp(`${lb.name}: haproxy\\.log emptied`));
      assert.equal(sparse, '', 'haproxy.log sparse');
      assert.ok(peak <= cap, `${lb.name}'s logs held ${peak} bytes, over ${cap}`);
      // Room was made from the oldest copies.
      const left = [...logSizes(lab, lb.name).keys()];
      assert.ok(!left.includes(olds[0] ?? ''), `${olds[0]} is still there: ${left.join(', ')}`);
    });

    for (const c of cases) {
      it(`${c.host.name}'s ${c.service} log pushed past its share is rotated, the host stays under its cap, and every later request is logged`, async (t) => {
        const name = path.basename(c.file);
        const rotatedBefore = [...logSizes(lab, c.host.name).keys()].filter((f) =>
          f.startsWith(`${name}.`),
        );
        inflate(c.file, rotateBytes(lab.model.logs) + MB);
        const started = Date.now();
        await waitFor(
          `${c.host.name}: ${name} rotated`,
          () => {
            const sizes = logSizes(lab, c.host.name);
            const rotated = [...sizes.keys()].filter(
              (f) => f.startsWith(`${name}.`) && !rotatedBefore.includes(f),
            );
            return Promise.resolve(
              rotated.length > 0 && (sizes.get(name) ?? 0) < rotateBytes(lab.model.logs)
                ? undefined
                : `${name}: ${sizes.get(name) ?? 0} bytes, no new rotated copy`,
            );
          },
          { timeoutMs: 20_000, intervalMs: 100 },
        );
        t.diagnostic(`${c.host.name}: ${name} rotated ${Date.now() - started} ms after it grew`);
        const total = [...logSizes(lab, c.host.name).values()].reduce((a, b) => a + b, 0);
        t.diagnostic(`${c.host.name}: logs ${(total / MB).toFixed(1)} MB of ${cap / MB} MB`);
        assert.ok(total <= cap, `${c.host.name}'s logs hold ${total} bytes, over ${cap}`);

        // Requests after the rotation: through this load balancer, to both web servers.
        const marker = `rotated-${randomUUID()}`;
        const count = 20;
        for (let i = 0; i < count; i++) {
          const result = await lab.on('client', [
            'curl',
            '-sS',
            '-o',
            '/dev/null',
            ...lab.siteFlags(lb),
            `${siteUrl(lab.model)}robots.txt?${marker}-${i}`,
          ]);
          assert.equal(result.exitCode, 0, result.stderr);
        }
        const webs = hostsWithRole(lab.model, 'web');
        const logged = (): Set<string> => {
          const files =
            c.service === 'nginx'
              ? webs.map((w) => nginxFiles(hostPaths(lab.model, w.name)).accessLog)
              : [c.file];
          const seen = new Set<string>();
          for (const file of files)
            for (const m of readFileSync(file, 'utf8').matchAll(
              new RegExp(`${marker}-(\\d+)`, 'g'),
            ))
              seen.add(m[1] ?? '');
          return seen;
        };
        // Nginx writes its buffer at most a second late.
        await waitFor(
          `the ${count} requests in the live ${c.service} logs`,
          () => {
            const seen = logged().size;
            return Promise.resolve(seen === count ? undefined : `${seen} of ${count}`);
          },
          { timeoutMs: 10_000, intervalMs: 200 },
        );
        // And `foobar logs` shows them, from the file the daemon writes now, after the lines
        // before them from the generation rotated away.
        const shown = await lab.cli('logs', c.host.name, c.service, '-n', '400');
        assert.equal(shown.exitCode, 0, shown.stderr);
        assert.match(shown.stdout, new RegExp(marker));
        assert.match(
          shown.stdout,
          new RegExp(`^x{199}\\n[^]*${marker}`, 'm'),
          "the rotated generation's last lines before the live file's",
        );
      });
    }
  });
}
