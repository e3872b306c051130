/** The sealed-object format (src/crypto/stream.ts) on its own: streams cut anywhere, every edge size, tampering. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { newIdentity, openWith, parseIdentity, parseRecipient, sealTo } from '../../src/crypto/age.js';
import {
  hencFormat,
  hencStaged,
  nameDigest,
  type ObjectFormat,
  openBuffer,
  openSegments,
  openStream,
  SealError,
  StreamSealer,
  sealBuffer,
  sealedLength,
  sealedRange,
  sealStream,
} from '../../src/crypto/stream.js';

const SIZES = [0, 1, 65535, 65536, 65537, 2 * 65536, 2 * 65536 + 1, 300_000];

/** `bytes` in pieces of random sizes (some empty), each piece a reused buffer overwritten after it is taken. */
async function* pieces(bytes: Buffer, seed: number): AsyncIterable<Buffer> {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state;
  };
  const scratch = Buffer.alloc(200_000);
  for (let at = 0; at < bytes.length; ) {
    const n = Math.min(bytes.length - at, next() % 3 === 0 ? 0 : next() % 150_000);
    bytes.copy(scratch, 0, at, at + n);
    yield scratch.subarray(0, n);
    scratch.fill(0xee); // the source reuses its buffer: a sealer must not keep a view of it
    at += n;
  }
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

const formats: [string, () => { seal: ObjectFormat; open: ObjectFormat }][] = [
  [
    'HENC (AES-256-GCM)',
    () => {
      const key = randomBytes(32);
      return { seal: hencFormat(key, 'a/b'), open: hencFormat(key, 'a/b') };
    },
  ],
  [
    'age (ChaCha20-Poly1305)',
    () => {
      const made = newIdentity();
      return { seal: sealTo(parseRecipient(made.recipient)), open: openWith(parseIdentity(made.identity)) };
    },
  ],
];

for (const [name, make] of formats) {
  describe(`sealed objects, ${name}`, () => {
    it('a stream cut anywhere seals and opens to the same bytes as a buffer', async () => {
      for (const size of SIZES) {
        const plain = randomBytes(size);
        const { seal, open } = make();
        for (const seed of [1, 2, 3]) {
          const sealed = await collect(sealStream(seal, pieces(plain, seed)));
          assert.ok(openBuffer(open, sealed).equals(plain), `size ${size}, seed ${seed}`);
          assert.ok((await collect(openStream(open, pieces(sealed, seed + 10)))).equals(plain));
        }
        assert.ok(openBuffer(open, sealBuffer(seal, plain)).equals(plain));
      }
    });

    it('opens from tiny pieces: a header split across them, segments gathered from many', async () => {
      const plain = randomBytes(2 * 65536 + 7);
      const { seal, open } = make();
      const sealed = sealBuffer(seal, plain);
      // 1-byte pieces through the header and well into the first segment, then 3000-byte ones
      // (an S3 response's size), each a reused buffer overwritten once taken.
      async function* small(): AsyncIterable<Buffer> {
        const scratch = Buffer.alloc(3000);
        for (let at = 0; at < sealed.length; ) {
          const n = Math.min(sealed.length - at, at < 100 ? 1 : 3000);
          sealed.copy(scratch, 0, at, at + n);
          yield scratch.subarray(0, n);
          scratch.fill(0xee);
          at += n;
        }
      }
      assert.ok((await collect(openStream(open, small()))).equals(plain));
    });

    it('a changed byte anywhere, a cut at a segment boundary or an appended segment fails', async () => {
      const plain = randomBytes(3 * 65536 + 100);
      const { seal, open } = make();
      const sealed = sealBuffer(seal, plain);
      for (const at of [0, 10, sealed.length >> 1, sealed.length - 1]) {
        const bad = Buffer.from(sealed);
        bad[at] = bad[at]! ^ 1;
        assert.throws(() => openBuffer(open, bad), SealError, `byte ${at}`);
      }
      const header = sealed.length - (3 * 65552 + 116);
      assert.throws(() => openBuffer(open, sealed.subarray(0, header + 2 * 65552)), SealError, 'cut');
      assert.throws(
        () => openBuffer(open, Buffer.concat([sealed, sealed.subarray(header, header + 65552)])),
        SealError,
      );
    });
  });
}

it('HENC binds the object name: sealed as one key, it does not open as another', () => {
  const key = randomBytes(32);
  const sealed = sealBuffer(hencFormat(key, 'checkpoints/a/meta.json'), Buffer.from('{}'));
  assert.throws(() => openBuffer(hencFormat(key, 'checkpoints/b/meta.json'), sealed), SealError);
});

describe('staged objects (HENC version 2: StreamSealer, the name bound by the last segment)', () => {
  const seal = (key: Buffer, bytes: Buffer, seed: number, name: string) => {
    const { header, key: segmentKey } = hencStaged(key);
    const sealer = new StreamSealer(header, segmentKey);
    const out: Buffer[] = [];
    let state = seed;
    for (let at = 0; at < bytes.length; ) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      const n = Math.min(bytes.length - at, state % 3 === 0 ? 0 : state % 200_000);
      const piece = Buffer.from(bytes.subarray(at, at + n));
      for (const sealed of sealer.push(piece)) out.push(Buffer.from(sealed));
      piece.fill(0xee); // the caller reuses its buffer: the sealer must not keep a view of it
      at += n;
    }
    out.push(sealer.end(nameDigest(name)));
    return Buffer.concat(out);
  };

  it('pushed in pieces of any size, opens whole, as a stream and by ranges, under its name only', async () => {
    const key = randomBytes(32);
    for (const size of [...SIZES, 2 * 1024 * 1024 + 3]) {
      const bytes = randomBytes(size);
      const sealed = seal(key, bytes, size + 1, 'store/packs/ab/abc');
      assert.equal(sealed[4], 2, 'version 2');
      assert.equal(sealed.length, sealedLength(size, 21), `${size}: as long as one sealed whole`);
      const open = hencFormat(key, 'store/packs/ab/abc', true);
      assert.ok(openBuffer(open, sealed).equals(bytes), `${size} bytes`);
      assert.ok((await collect(openStream(open, pieces(sealed, size)))).equals(bytes));
      if (size > 70_000) {
        const header = open.open(sealed)!;
        const { first, from, to } = sealedRange(65_000, 2_000, header.length);
        const plain = openSegments(header.key, first, sealed.subarray(from, to), to >= sealed.length);
        assert.ok(
          plain
            .subarray(65_000 - first * 65536, 67_000 - first * 65536)
            .equals(bytes.subarray(65_000, 67_000)),
        );
      }
      assert.throws(() => openBuffer(hencFormat(key, 'store/packs/ab/abd', true), sealed), SealError);
      assert.throws(() => openBuffer(hencFormat(key, 'store/packs/ab/abc'), sealed), /version 2/);
    }
  });
});
