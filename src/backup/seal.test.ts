import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { text } from 'node:stream/consumers';
import { after, describe, it } from 'node:test';
import { parseKey, seal, unseal } from './seal.ts';

describe('sealed backups', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'foobar-seal-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const key = randomBytes(32);
  const content = 'INSERT INTO messages VALUES (1, "hello");\n'.repeat(2000);

  it('compresses, encrypts and checksums; unseals to the same bytes', async () => {
    const file = path.join(dir, 'a.zst.aes');
    const sealed = await seal(Readable.from([content]), file, key);
    assert.equal(sealed.plainBytes, content.length);
    assert.ok(sealed.bytes < content.length / 10, `${sealed.bytes} bytes stored`);
    assert.ok(!readFileSync(file).includes('hello'), 'stored encrypted');
    assert.equal(readFileSync(`${file}.sha256`, 'utf8'), `${sealed.sha256}  a.zst.aes\n`);
    assert.equal(await text(await unseal(file, sealed, key)), content);
  });

  it('unseals every byte to a consumer slower than the file is read', async () => {
    // Random hex: megabytes that compress only by half, so the decompressor's output is still
    // waiting for the consumer when its input is all read.
    const big = randomBytes(4 * 1024 * 1024).toString('hex');
    const file = path.join(dir, 'slow.zst.aes');
    const sealed = await seal(Readable.from([big]), file, key);
    let received = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        setTimeout(done, 1);
      },
    });
    await pipeline(await unseal(file, sealed, key), slow);
    assert.equal(received, big.length);
  });

  it('refuses a damaged copy, and a wrong key fails the stream', async () => {
    const file = path.join(dir, 'b.zst.aes');
    const sealed = await seal(Readable.from([content]), file, key);
    await assert.rejects(text(await unseal(file, sealed, randomBytes(32))), /cannot be opened/);
    const bytes = readFileSync(file);
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    writeFileSync(file, bytes);
    await assert.rejects(unseal(file, sealed, key), /damaged/);
  });

  it('reads a key of 64 hex digits only', () => {
    assert.equal(parseKey(`${'ab'.repeat(32)}\n`, 'k').length, 32);
    assert.throws(() => parseKey('abc', 'backup.key'), /backup.key: expected a 32-byte key/);
  });
});
