import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { NetnsDriver } from './netns.ts';

it('mkdir gives its mode to the directory only, as mkdir -p -m does, not to the parents it makes', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'foobar-netns-mkdir-'));
  try {
    const driver = new NetnsDriver(() => {
      throw new Error('no namespace in this test');
    });
    const secrets = path.join(root, 'state', 'secrets');
    await driver.mkdir(null, secrets, 0o700);
    assert.equal(statSync(secrets).mode & 0o777, 0o700);
    assert.equal(statSync(path.dirname(secrets)).mode & 0o001, 0o001, 'others may pass the parent');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

it('spawns onto a pipe without waiting for its reader, and the reader appends what it gets', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'foobar-netns-pipe-'));
  try {
    const driver = new NetnsDriver(() => {
      throw new Error('no namespace in this test');
    });
    const pipe = path.join(root, 'daemon.out');
    const log = path.join(root, 'daemon.log');
    execFileSync('mkfifo', [pipe]);
    // The writer first: opened read-write, its open does not wait for a reader.
    await driver.spawn(
      null,
      { argv: ['sh', '-c', 'echo one; sleep 0.3; echo two'] },
      {
        logFile: pipe,
      },
    );
    writeFileSync(log, 'before\n');
    const reader = await driver.spawn(null, { argv: ['cat', pipe] }, { logFile: log });
    // The reader ends once the writer has: the pipe's last writer gone.
    for (let i = 0; i < 100 && existsSync(`/proc/${reader}`); i++) {
      const stat = readFileSync(`/proc/${reader}/stat`, 'utf8');
      if (/^\d+ \(.*\) Z/.test(stat)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(readFileSync(log, 'utf8'), 'before\none\ntwo\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
