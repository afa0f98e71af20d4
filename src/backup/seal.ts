/**
 * What the backup host stores: a stream compressed (zstd), encrypted (AES-256-GCM, a fresh IV per
 * file, its tag kept in the manifest) and checksummed (sha256 of the stored bytes, also in a
 * `sha256sum`-style file beside it, so `sha256sum -c` checks a copy anywhere without the key).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createZstdCompress, createZstdDecompress } from 'node:zlib';

const CIPHER = 'aes-256-gcm';
export const KEY_BYTES = 32;

/** How to check and open a sealed file: kept in its manifest. */
export interface Sealed {
  /** The stored (encrypted) bytes. */
  readonly bytes: number;
  /** The bytes before compression. */
  readonly plainBytes: number;
  readonly sha256: string;
  readonly iv: string;
  readonly tag: string;
}

function counter(): { stream: Transform; total: () => number } {
  let total = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, total: () => total };
}

/** Parses the key file: 64 hex digits (32 bytes). */
export function parseKey(text: string, source: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-f]{64}$/i.test(hex))
    throw new Error(`${source}: expected a ${KEY_BYTES}-byte key as 64 hex digits`);
  return Buffer.from(hex, 'hex');
}

/**
 * Seals `input` into `file` (written as `file.part`, renamed once complete), with `file.sha256`
 * beside it.
 */
export async function seal(input: Readable, file: string, key: Buffer): Promise<Sealed> {
  const iv = randomBytes(12);
  const cipher = createCipheriv(CIPHER, key, iv);
  const hash = createHash('sha256');
  const plain = counter();
  const stored = counter();
  const part = `${file}.part`;
  await pipeline(
    input,
    plain.stream,
    createZstdCompress(),
    cipher,
    stored.stream,
    new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    }),
    createWriteStream(part, { mode: 0o600 }),
  );
  const sha256 = hash.digest('hex');
  await writeFile(`${file}.sha256`, `${sha256}  ${path.basename(file)}\n`, { mode: 0o600 });
  await rename(part, file);
  return {
    bytes: stored.total(),
    plainBytes: plain.total(),
    sha256,
    iv: iv.toString('hex'),
    tag: cipher.getAuthTag().toString('hex'),
  };
}

/** The sha256 of a file, read whole. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * The plain stream of a sealed file, after its checksum was checked. A wrong key or altered bytes
 * make the stream fail at its end (GCM's tag): a consumer must wait for it to end cleanly.
 */
export async function unseal(file: string, sealed: Sealed, key: Buffer): Promise<Readable> {
  const actual = await fileSha256(file);
  if (actual !== sealed.sha256)
    throw new Error(`${file}: sha256 ${actual}, expected ${sealed.sha256}: the copy is damaged`);
  const decipher = createDecipheriv(CIPHER, key, Buffer.from(sealed.iv, 'hex'));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'hex'));
  const decompress = createZstdDecompress();
  const out = new PassThrough();
  // `out` ends when the decompressor's output has all gone into it. (The pipeline's promise is
  // no such sign: it settles once the decompressor has taken all its input, while its output
  // may still wait for a slow consumer. Ending `out` then cut the stream's tail: under load a
  // restore's mbstream met the end of its input inside a chunk.)
  decompress.pipe(out);
  pipeline(createReadStream(file), decipher, decompress).catch((error: unknown) => {
    out.destroy(
      new Error(`${file}: cannot be opened (${(error as Error).message})`, { cause: error }),
    );
  });
  return out;
}
