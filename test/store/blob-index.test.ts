import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryBank } from '../../src/bank/index.js';
import { BlobIndex } from '../../src/store/blob-index.js';
import type { BlobEntry, Compression, PackIndex } from '../../src/store/pack.js';

const COMPRESSIONS: Compression[] = ['none', 'deflate', 'zstd'];

/** A pack index of `ids`, each blob of its own length and compression. */
function packOf(pack: string, ids: string[]): PackIndex {
  let offset = 0;
  const blobs: BlobEntry[] = ids.map((id, i) => {
    const blob = { id, offset, length: 100 + i, rawLength: 200 + i, compression: COMPRESSIONS[i % 3]! };
    offset += blob.length;
    return blob;
  });
  return { version: 1, pack, blobs };
}

const ids = (n: number) => Array.from({ length: n }, () => randomBytes(32).toString('hex'));

describe('BlobIndex', () => {
  it('finds every blob of many packs where it is, the first pack holding it first', () => {
    const index = new BlobIndex(new MemoryBank());
    const a = packOf('a'.repeat(64), ids(1500));
    // b repeats 300 of a's blobs: a's copies are the ones found.
    const b = packOf('b'.repeat(64), [...a.blobs.slice(0, 300).map((x) => x.id), ...ids(1200)]);
    index.add(a);
    index.add(b);
    for (const blob of a.blobs) assert.deepEqual(index.get(blob.id), { ...blob, pack: a.pack });
    for (const blob of b.blobs.slice(300)) assert.deepEqual(index.get(blob.id), { ...blob, pack: b.pack });
    assert.equal(index.stats().blobs, 2700);
    assert.deepEqual(index.pack(b.pack), b);
    assert.equal(index.get(randomBytes(32).toString('hex')), undefined);
    assert.equal(index.get(a.blobs[0]!.id.toUpperCase()), undefined);
    assert.equal(index.get(a.blobs[0]!.id.slice(0, 62)), undefined);

    // Without a, its blobs that b also holds are found in b, the rest not at all.
    index.remove([a.pack]);
    assert.equal(index.stats().blobs, 1500);
    for (const blob of b.blobs) assert.deepEqual(index.get(blob.id), { ...blob, pack: b.pack });
    assert.equal(index.get(a.blobs[400]!.id), undefined);

    // A damaged copy is not found; its blob is found again once the damage is cleared.
    const damaged = b.blobs[5]!;
    index.setDamaged([{ pack: b.pack, blob: damaged.id }], true);
    assert.equal(index.get(damaged.id), undefined);
    assert.ok(index.has(b.blobs[6]!.id));
    index.setDamaged([{ pack: b.pack, blob: damaged.id }], false);
    assert.deepEqual(index.get(damaged.id), { ...damaged, pack: b.pack });
  });

  it('finds blobs whose ids share their first bytes (one long run of slots) across growing tables', () => {
    const index = new BlobIndex(new MemoryBank());
    const same = ids(1200).map((id) => `00000000${id.slice(8)}`);
    const pack = packOf('c'.repeat(64), same);
    index.add(pack);
    for (const blob of pack.blobs) assert.deepEqual(index.get(blob.id), { ...blob, pack: pack.pack });
    assert.equal(index.get(`00000000${ids(1)[0]!.slice(8)}`), undefined);
  });
});
