import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { HoardError } from '../../src/errors.js';
import { HashPool, INLINE_BELOW } from '../../src/store/hash-pool.js';
import { PackBuilder, packId, readPackEntries } from '../../src/store/pack.js';
import { DIE_AT } from './dying-hash-worker.js';

const HASH_WORKER = new URL('../../src/store/hash-worker.js', import.meta.url);

import { seeded } from './helpers.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('content store: hash pool', () => {
  it('gives the same ids as hashing in-thread, in order, for owned, shared and borrowed buffers', async () => {
    const pool = new HashPool(2);
    try {
      const inputs: Buffer[] = [];
      for (let i = 0; i < 40; i++) inputs.push(seeded(`h${i}`, [10, INLINE_BELOW, 300_000, 1 << 20][i % 4]!));
      const expected = inputs.map(sha);
      const owned = inputs.map((b) => {
        const copy = Buffer.from(new ArrayBuffer(b.length));
        b.copy(copy);
        return copy;
      });
      const results = await Promise.all(owned.map((b) => pool.hash(b)));
      assert.deepEqual(
        results.map((r) => r.id),
        expected,
      );
      // The bytes come back intact (moved to a worker and back).
      for (const [i, r] of results.entries()) assert.ok(r.bytes.equals(inputs[i]!));
      const sab = Buffer.from(new SharedArrayBuffer(3 << 20));
      seeded('sab', sab.length).copy(sab);
      const ranges = [
        [0, 1 << 20],
        [5, 100_000],
        [1 << 20, (2 << 20) - 100],
      ] as const;
      const shared = await pool.hashRanges(sab.subarray(7), ranges);
      assert.deepEqual(
        shared.ids,
        ranges.map(([o, n]) => sha(sab.subarray(7 + o, 7 + o + n))),
      );
      const borrowed = sab.subarray(1, 200_000);
      assert.equal((await pool.hash(Buffer.from(borrowed))).id, sha(borrowed));
    } finally {
      await pool.close();
    }
  });

  it('surfaces errors, and hashes in-thread once closed or with no workers', async () => {
    const pool = new HashPool(1);
    await assert.rejects(pool.hashRanges(Buffer.alloc(10), [[5, 10]]), RangeError);
    await pool.close();
    const data = seeded('after', 1 << 20);
    const expected = sha(data);
    assert.equal((await pool.hash(data)).id, expected);
    assert.equal((await new HashPool(0).hash(data)).id, expected);
  });

  it('fails the requests of a worker that dies, and starts a new one for the next request', async () => {
    // The dying listener first, then the real worker's: the dying one sees each request first.
    const imports = [new URL('./dying-hash-worker.js', import.meta.url), HASH_WORKER]
      .map((url) => `import ${JSON.stringify(url.href)};`)
      .join('\n');
    const pool = new HashPool(1, new URL(`data:text/javascript,${encodeURIComponent(imports)}`));
    try {
      const sound = seeded('sound', 1 << 20);
      const expected = sha(sound); // before: the buffer moves to the worker
      assert.equal((await pool.hash(sound)).id, expected, 'the worker hashes like the real one');
      const fatal = pool.hash(Buffer.from(new ArrayBuffer(DIE_AT)));
      await assert.rejects(fatal, (error: HoardError) => {
        assert.equal(error.code, 'INTERNAL');
        assert.match(error.message, /hashing worker thread stopped: exit code 3/);
        return true;
      });
      const again = seeded('again', 1 << 20);
      const expectedAgain = sha(again);
      assert.equal((await pool.hash(again)).id, expectedAgain);
    } finally {
      await pool.close();
    }
  });
});

describe('content store: pack ids', () => {
  it('a pack id is the SHA-256 of its entries and trailer, and readPackEntries checks it', () => {
    const builder = new PackBuilder();
    const a = seeded('a', 1000);
    const b = seeded('b', 2000);
    builder.add(sha(a), a, a.length, 'none');
    builder.add(sha(b), b, b.length, 'none');
    const { index, parts } = builder.seal();
    const whole = Buffer.concat(parts);
    const footer = whole.subarray(3000);
    assert.equal(index.pack, packId(footer.subarray(0, 96), footer.subarray(96)));
    assert.deepEqual(readPackEntries(index.pack, whole), index.blobs);
    // A pack named by the hash of all its bytes (written before) is accepted too.
    assert.deepEqual(readPackEntries(sha(whole), whole), index.blobs);
    assert.throws(() => readPackEntries('0'.repeat(64), whole), /do not hash to its id/);
  });
});
