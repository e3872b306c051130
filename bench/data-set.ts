/**
 * The data set of `npm run bench:data`: seeded, so every run and every machine backs up the
 * same bytes, and a 1 % change that can be undone, so that each tool starts from the same
 * state and meets the same change.
 *
 * At scale 1 (BENCH_DATA_MB=1100), about 1.15 GB in 20 004 files:
 * - 18 000 small text files (1–16 KiB): compressible, many objects;
 * - 2 000 random files (64–512 KiB): incompressible;
 * - 4 large files (100 MB each) made of alternating random and text stretches of
 *   128–512 KiB, so that compressible and incompressible data mix inside a file too (a
 *   compressor that judges a file by its start, or a chunk by a sample, gets these wrong).
 * The mix is about 30 % text by bytes.
 */
import { createCipheriv } from 'node:crypto';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seeded } from './lib.js';

/** Seeded random bytes: AES-CTR over zeros, fast and the same on every machine. */
export function randomStream(seed: number): (n: number) => Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return (n) => cipher.update(Buffer.alloc(n));
}

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which ' +
  'but have an they you were her she there backup restore checkpoint bank chunk'
)
  .split(' ')
  .map((w) => Buffer.from(`${w} `));

/** `n` bytes of words drawn from a small vocabulary: text that zstd shrinks about 3×. */
export function textBytes(rnd: () => number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n + 16);
  let len = 0;
  while (len < n) {
    const w = WORDS[Math.floor(rnd() * WORDS.length)]!;
    len += w.copy(out, len);
  }
  return out.subarray(0, n);
}

export interface DataSet {
  files: number;
  bytes: number;
  /** Bytes in text (compressible) stretches, in text files and inside the large files. */
  textBytes: number;
}

/** Counts at this scale (1 = about 1.15 GB). */
function counts(scale: number) {
  return {
    small: Math.round(18_000 * scale),
    mid: Math.round(2_000 * scale),
    largeBytes: Math.round(100 * 1024 * 1024 * scale),
  };
}

export async function generate(root: string, scale: number): Promise<DataSet> {
  const { small, mid, largeBytes } = counts(scale);
  const rnd = seeded(42);
  const random = randomStream(42);
  const set: DataSet = { files: 0, bytes: 0, textBytes: 0 };
  const put = async (rel: string, data: Buffer) => {
    const abs = join(root, rel);
    await mkdir(join(abs, '..'), { recursive: true });
    await writeFile(abs, data);
    set.files++;
    set.bytes += data.length;
  };
  for (let i = 0; i < small; i++) {
    const text = textBytes(rnd, 1024 + Math.floor(rnd() * 15 * 1024));
    await put(`small/d${i % 100}/f${i}.txt`, text);
    set.textBytes += text.length;
  }
  for (let i = 0; i < mid; i++)
    await put(`mid/d${i % 20}/f${i}.bin`, random(64 * 1024 + Math.floor(rnd() * 448 * 1024)));
  for (let i = 0; i < 4; i++) {
    const handle = await open(join(root, `large-${i}.bin`), 'w');
    let text = rnd() < 0.5;
    for (let done = 0; done < largeBytes; ) {
      const n = Math.min(128 * 1024 + Math.floor(rnd() * 384 * 1024), largeBytes - done);
      await handle.write(text ? textBytes(rnd, n) : random(n));
      if (text) set.textBytes += n;
      done += n;
      text = !text;
    }
    await handle.close();
    set.files++;
    set.bytes += largeBytes;
  }
  return set;
}

/** What `change` overwrote or added: `undo` puts it back. */
export interface Change {
  /** Bytes written by the change. */
  bytes: number;
  /** Files added, rewritten or edited. */
  files: number;
  undo(): Promise<void>;
}

/**
 * The 1 % change: rewrite 1 % of the small and mid files, overwrite 1 MiB in the middle of
 * a large file (random bytes over a mixed stretch), add ten 512 KiB files. The same files
 * and bytes every time it is applied to the generated set.
 */
export async function change(root: string, scale: number): Promise<Change> {
  const { small, mid, largeBytes } = counts(scale);
  const rnd = seeded(7);
  const random = randomStream(7);
  /** Each touched file's first content (null: the change added it); a file picked twice keeps the first. */
  const before = new Map<string, Buffer | null>();
  let bytes = 0;
  const rewrite = async (rel: string, data: Buffer, added = false) => {
    const abs = join(root, rel);
    if (!before.has(abs)) before.set(abs, added ? null : await readFile(abs));
    await writeFile(abs, data);
    bytes += data.length;
  };
  for (let i = 0; i < Math.round(180 * scale); i++) {
    const n = Math.floor(rnd() * small);
    await rewrite(`small/d${n % 100}/f${n}.txt`, textBytes(rnd, 4096));
  }
  for (let i = 0; i < Math.round(20 * scale); i++) {
    const n = Math.floor(rnd() * mid);
    await rewrite(`mid/d${n % 20}/f${n}.bin`, random(256 * 1024));
  }
  const large = join(root, 'large-0.bin');
  const at = Math.round(largeBytes / 2);
  const edit = Math.min(1 << 20, largeBytes - at);
  const old = Buffer.alloc(edit);
  const handle = await open(large, 'r+');
  await handle.read(old, 0, edit, at);
  await handle.write(random(edit), 0, edit, at);
  await handle.close();
  bytes += edit;
  for (let i = 0; i < 10; i++) await rewrite(`added-${i}.bin`, random(512 * 1024), true);
  return {
    bytes,
    files: before.size + 1,
    async undo() {
      for (const [abs, data] of before) {
        if (data === null) await rm(abs, { force: true });
        else await writeFile(abs, data);
      }
      const h = await open(large, 'r+');
      await h.write(old, 0, edit, at);
      await h.close();
    },
  };
}
