import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { decodeBlobSync, encodeBlobSync } from '../../src/store/blob.js';
import { blobId } from '../../src/store/blob-id.js';
import { zstdCompress, zstdDecompress } from '../../src/store/zstd.js';
import { MiB, seeded } from './helpers.js';

/** Text-like bytes that compress well. */
function text(length: number, seed: number): Buffer {
  const words = ['alpha ', 'beta ', 'gamma ', 'delta ', `w${seed} `];
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < length; i++) {
    const word = words[(i * 7 + seed) % words.length]!;
    parts.push(word);
    n += word.length;
  }
  return Buffer.from(parts.join('')).subarray(0, length);
}

/** A zstd frame of `raw` that does not say its content size (streamed, as another tool may write it). */
function frameWithoutSize(raw: Buffer): Buffer {
  const binding = createRequire(import.meta.url)('zstd-napi/binding') as {
    CCtx: new () => {
      compressStream2(dst: Uint8Array, src: Uint8Array, end: number): [number, number, number];
    };
    getFrameContentSize(frame: Uint8Array): number | null;
    EndDirective: { continue: number; end: number };
  };
  const cctx = new binding.CCtx();
  const out = Buffer.alloc(raw.length + 1024);
  // Fed first, ended after: the frame's header is written before the size is known.
  const [, produced, consumed] = cctx.compressStream2(out, raw, binding.EndDirective.continue);
  assert.equal(consumed, raw.length);
  const [left, more] = cctx.compressStream2(
    out.subarray(produced),
    Buffer.alloc(0),
    binding.EndDirective.end,
  );
  assert.equal(left, 0);
  const frame = out.subarray(0, produced + more);
  assert.equal(binding.getFrameContentSize(frame), null);
  return frame;
}

describe('zstd with transient (scratch) memory', () => {
  it('reuses one buffer per thread, and each result is right when taken at once', () => {
    const a = text(3 * MiB, 1);
    const b = text(2 * MiB, 2);
    const first = zstdCompress(a, 3, true)!;
    const firstCopy = Buffer.from(first);
    const second = zstdCompress(b, 3, true)!;
    // The point: no new memory per call (the second lies where the first did).
    assert.equal(second.buffer, first.buffer);
    const secondCopy = Buffer.from(second);
    assert.deepEqual(zstdDecompress(firstCopy, a.length), a);
    const rawA = zstdDecompress(firstCopy, a.length, true);
    assert.equal(rawA.buffer, first.buffer);
    assert.deepEqual(Buffer.from(rawA), a);
    assert.deepEqual(Buffer.from(zstdDecompress(secondCopy, b.length, true)), b);
    // Without `transient`, every result has memory of its own.
    assert.notEqual(zstdCompress(a, 3)!.buffer, zstdCompress(a, 3)!.buffer);
  });

  it('still refuses a frame that holds more than the raw length promised, though the scratch is larger', () => {
    // Grow this thread's scratch well past the frame's size first.
    zstdDecompress(zstdCompress(text(4 * MiB, 3), 3)!, 4 * MiB, true);
    const raw = text(200_000, 4);
    const frame = frameWithoutSize(raw);
    assert.deepEqual(Buffer.from(zstdDecompress(frame, raw.length, true)), raw);
    assert.throws(() => zstdDecompress(frame, 100_000, true));
    assert.throws(() => zstdDecompress(frame, 300_000, true), /holds 200000 bytes/);
    // A frame that says its size is checked before decompressing.
    assert.throws(
      () => zstdDecompress(zstdCompress(raw, 3)!, 100_000, true),
      /the frame says 200000 bytes, the index 100000/,
    );
  });

  it('encodeBlobSync and decodeBlobSync round-trip blob after blob, and a damaged blob is still STORE_CORRUPT', () => {
    const blobs = [text(1 * MiB, 5), seeded('six', 512 * 1024), text(4 * MiB, 7), text(1000, 8)];
    const stored = blobs.map((raw) => {
      const encoded = encodeBlobSync(raw, 'zstd', true);
      return { raw, stored: Buffer.from(encoded.stored), compression: encoded.compression };
    });
    assert.equal(stored[1]!.compression, 'none');
    for (const { raw, stored: bytes, compression } of stored) {
      const blob = { id: blobId(raw), pack: 'p', offset: 0, rawLength: raw.length, compression };
      assert.deepEqual(Buffer.from(decodeBlobSync(blob, bytes, undefined, true)), raw);
    }
    const { raw, stored: bytes } = stored[0]!;
    const wrong = {
      id: blobId(text(1 * MiB, 9)),
      pack: 'p',
      offset: 0,
      rawLength: raw.length,
      compression: 'zstd' as const,
    };
    assert.throws(() => decodeBlobSync(wrong, bytes, undefined, true), /STORE_CORRUPT|hashes to/);
  });
});
