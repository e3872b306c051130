import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Chunker, chunkSizes, cutLength, GEAR, GEAR_SEED, spreadMask } from '../../src/store/chunker.js';
import { KiB, MiB, pieces, seeded } from './helpers.js';

function lengths(chunker: Chunker, parts: readonly Uint8Array[]): number[] {
  const out: number[] = [];
  for (const part of parts) for (const chunk of chunker.push(part)) out.push(chunk.length);
  const last = chunker.finish();
  if (last) out.push(last.length);
  return out;
}

/** FastCDC as docs/store-format.md states it, written plainly over one whole buffer. */
function reference(data: Uint8Array, avg: number): number[] {
  const { min, max, maskS, maskL } = chunkSizes(avg);
  const out: number[] = [];
  for (let start = 0; start < data.length; ) {
    const left = data.length - start;
    let length = Math.min(left, max);
    let fp = 0;
    for (let i = min; i < Math.min(left, max); i++) {
      fp = ((fp << 1) + GEAR[data[start + i]!]!) | 0;
      if ((fp & (i < avg ? maskS : maskL)) === 0) {
        length = i + 1;
        break;
      }
    }
    out.push(length);
    start += length;
  }
  return out;
}

describe('chunker: FastCDC boundaries', () => {
  it('derives the gear table from its seed as documented', () => {
    assert.equal(GEAR_SEED, 'hoard-fastcdc-gear-v1');
    for (const i of [0, 1, 127, 255]) {
      const digest = createHash('sha256')
        .update(Buffer.concat([Buffer.from(GEAR_SEED), Buffer.of(i)]))
        .digest();
      assert.equal(GEAR[i], digest.readInt32BE(0));
    }
  });

  it('spreads mask bits over the word, and nests the masks', () => {
    assert.equal(spreadMask(1) >>> 0, 0x8000_0000);
    assert.equal(spreadMask(2) >>> 0, 0x8000_8000);
    assert.equal(spreadMask(4) >>> 0, 0x8080_8080);
    assert.equal(spreadMask(32) >>> 0, 0xffff_ffff);
    const ones = (mask: number) => (mask >>> 0).toString(2).replaceAll('0', '').length;
    for (const bits of [6, 14, 18, 22, 28]) assert.equal(ones(spreadMask(bits)), bits);
    const { min, max, maskS, maskL } = chunkSizes(64 * KiB);
    assert.deepEqual([min, max], [16 * KiB, 256 * KiB]);
    assert.deepEqual([ones(maskS), ones(maskL)], [18, 14]);
    assert.equal(maskS & maskL, maskL, 'maskL is inside maskS');
    assert.equal(maskS >>> 0, 0xeaaa_eaaa);
  });

  it('cuts the same boundaries as a plain implementation of the algorithm', () => {
    for (const avg of [256, 4 * KiB, 64 * KiB]) {
      const data = randomBytes(40 * avg + 123);
      assert.deepEqual(lengths(new Chunker(avg), [data]), reference(data, avg), `avg ${avg}`);
    }
  });

  it('cutLength, the stateless cutter the file workers use, cuts the same boundaries', () => {
    for (const avg of [256, 4 * KiB, 64 * KiB]) {
      const sizes = chunkSizes(avg);
      // Repetitive stretches too, so that max-length chunks are cut as well as hashed ones.
      const data = Buffer.concat([randomBytes(30 * avg + 123), Buffer.alloc(9 * avg, 7), randomBytes(avg)]);
      const got: number[] = [];
      // Fed as a reader would: at least `max` bytes ahead, or all that is left.
      for (let start = 0; start < data.length; ) {
        const end = Math.min(data.length, start + sizes.max + 1000);
        const length = cutLength(data, start, end, sizes, end === data.length);
        assert.ok(length > 0, `a cut at ${start} with ${end - start} bytes in hand`);
        got.push(length);
        start += length;
      }
      assert.deepEqual(got, reference(data, avg), `avg ${avg}`);
      // Short of `max` bytes and not at the end, it asks for more rather than guess.
      assert.equal(cutLength(Buffer.alloc(sizes.max, 7), 0, sizes.max - 1, sizes, false), 0);
      assert.equal(cutLength(data, 0, sizes.min, sizes, true), sizes.min);
    }
  });

  it('keeps boundaries stable across versions and machines (pinned vector)', () => {
    const data = seeded('hoard chunker vector', MiB);
    const got = lengths(new Chunker(16 * KiB), [data]);
    assert.equal(
      got.reduce((a, b) => a + b, 0),
      MiB,
    );
    assert.deepEqual(got.slice(0, 8), PINNED_16K);
  });

  it('does not depend on how the input is split', () => {
    const data = randomBytes(3 * MiB + 17);
    const whole = lengths(new Chunker(16 * KiB), [data]);
    for (const sizes of [[1], [7, 1000, 65_537, 3], [16 * KiB], [64 * KiB + 1, 13], [MiB]]) {
      const small = sizes[0] === 1 ? data.subarray(0, 200 * KiB) : data;
      const expected = sizes[0] === 1 ? lengths(new Chunker(16 * KiB), [small]) : whole;
      assert.deepEqual(lengths(new Chunker(16 * KiB), pieces(small, sizes)), expected, `pieces of ${sizes}`);
    }
  });

  it('keeps chunks between min and max; shorter input is one chunk', () => {
    const avg = 4 * KiB;
    const { min, max } = chunkSizes(avg);
    const got = lengths(new Chunker(avg), [randomBytes(500 * KiB)]);
    for (const n of got.slice(0, -1)) assert.ok(n >= min && n <= max, `${n} outside [${min}, ${max}]`);
    assert.deepEqual(lengths(new Chunker(avg), [randomBytes(min - 1)]), [min - 1]);
    assert.deepEqual(lengths(new Chunker(avg), [randomBytes(min)]), [min]);
    assert.deepEqual(lengths(new Chunker(avg), [Buffer.alloc(10 * max)]), Array(10).fill(max));
    assert.deepEqual(lengths(new Chunker(avg), []), []);
  });

  it('resynchronises after a 1-byte change: the chunks around it change, the rest do not', () => {
    // Seeded, so that the result is the same every run: an edit in the 32 bytes before a
    // boundary can move several (rarely), and random data would make that a flaky test.
    const data = seeded('resync', 8 * MiB);
    const before = lengths(new Chunker(64 * KiB), [data]);
    data[4 * MiB] = data[4 * MiB]! ^ 0x5a;
    const after = lengths(new Chunker(64 * KiB), [data]);
    const ends = (ls: number[]) => new Set(ls.map((_, i) => ls.slice(0, i + 1).reduce((a, b) => a + b, 0)));
    const old = ends(before);
    const changed = [...ends(after)].filter((end) => !old.has(end));
    assert.ok(changed.length <= 2, `${changed.length} boundaries moved`);
  });
});

/** The first chunk lengths of `seeded('hoard chunker vector', 1 MiB)` at 16 KiB average. */
const PINNED_16K = [21972, 26731, 22220, 20581, 21746, 36960, 22814, 26041];
