import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RecordingDriver } from '../../drivers/recording.ts';
import { DEFAULT_LOGS } from '../../model/defaults.ts';
import { exampleModel } from '../../model/examples-testing.ts';
import { rotatedLogs } from '../../platform/machines/provision.ts';
import { createContext } from '../../steps/context.ts';
import { findHost } from '../../model/model.ts';
import { daemonsOf } from '../../steps/services.ts';
import { ROTATED_KEPT, journalMegabytes, renderJournald, renderLogrotate } from './index.ts';

const MB = 1024 * 1024;

describe("machines' log limits", () => {
  it('journald: half of the cap, a file closed at a fifth of that or after rotateHours', () => {
    const text = renderJournald(DEFAULT_LOGS);
    for (const line of [
      'SystemMaxUse=25M',
      'RuntimeMaxUse=25M',
      'SystemMaxFileSize=5M',
      'RuntimeMaxFileSize=5M',
      'MaxFileSec=24h',
      'MaxRetentionSec=7day',
    ])
      assert.ok(text.split('\n').includes(line), `${line} in\n${text}`);
    assert.match(text, /^\[Journal\]$/m);
  });

  it('every file a web host writes itself is rotated; Nginx reopens its own on USR1', async () => {
    const ctx = createContext(exampleModel('machines'), new RecordingDriver());
    const web = findHost(ctx.model, 'web-01');
    assert.ok(web !== undefined);
    const logs = rotatedLogs(await daemonsOf(ctx, web, true));
    const byName = new Map(logs.map((log) => [path.basename(log.path), log.reopenUnit]));
    assert.deepEqual([...byName.keys()].sort(), ['app.log', 'nginx-access.log', 'nginx-error.log']);
    assert.equal(byName.get('nginx-access.log'), 'nginx.service');
    assert.equal(byName.get('nginx-error.log'), 'nginx.service');
    assert.equal(byName.get('app.log'), undefined);
  });

  it('logrotate keeps the files under their half of the cap, and really rotates them', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-logrotate-'));
    try {
      const settings = { ...DEFAULT_LOGS, maxMegabytesPerHost: 10 };
      const files = ['app.log', 'nsd.log'].map((name) => path.join(dir, name));
      const config = path.join(dir, 'logrotate.conf');
      writeFileSync(
        config,
        renderLogrotate(
          settings,
          files.map((file) => ({ path: file })),
        ),
      );
      // Every file at its share, each generation too: the files' half of the cap at most.
      const each = Number(/maxsize (\d+)k/.exec(readConfig(config))?.[1]) * 1024;
      const halfCap = (settings.maxMegabytesPerHost - journalMegabytes(settings)) * MB;
      assert.ok(each * files.length * (ROTATED_KEPT + 1) <= halfCap, `${each} a file`);
      // logrotate's own parser accepts it (-d: a dry run that reads the config).
      const state = path.join(dir, 'state');
      execFileSync('logrotate', ['-d', '--state', state, config], { stdio: 'pipe' });
      // One file over its share is rotated (copied, truncated in place, compressed); the other not.
      const [big = '', small = ''] = files;
      writeFileSync(big, 'x'.repeat(each + 1024));
      writeFileSync(small, 'y\n');
      execFileSync('logrotate', ['--state', state, config], { stdio: 'pipe' });
      assert.equal(statSync(big).size, 0);
      assert.equal(statSync(small).size, 2);
      const rotated = readdirSync(dir).filter((name) => name.startsWith('app.log.'));
      assert.equal(rotated.length, 1, readdirSync(dir).join());
      assert.match(rotated[0] ?? '', /^app\.log\.\d{8}T\d{6}\.gz$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a unit that reopens its logs is signalled once after its files are renamed', () => {
    const text = renderLogrotate(DEFAULT_LOGS, [
      { path: '/var/log/foobar/access.log', reopenUnit: 'nginx.service' },
      { path: '/var/log/foobar/nginx-error.log', reopenUnit: 'nginx.service' },
      { path: '/var/log/foobar/app.log' },
    ]);
    assert.match(text, /^\/var\/log\/foobar\/app\.log \{\n(?: {4}.*\n)* {4}copytruncate\n\}$/m);
    assert.match(
      text,
      /^\/var\/log\/foobar\/access\.log \/var\/log\/foobar\/nginx-error\.log \{\n(?: {4}.*\n)* {4}sharedscripts\n {4}postrotate\n {8}systemctl kill --kill-whom=main --signal=USR1 nginx\.service \|\| true\n {4}endscript\n\}$/m,
    );
  });
});

function readConfig(file: string): string {
  return execFileSync('cat', [file], { encoding: 'utf8' });
}
