import { createHash } from 'node:crypto';

/**
 * The gear table is derived from this seed, never from randomness, so that chunk boundaries
 * (and so blob ids and deduplication) are the same on every run and machine:
 * `gear[i]` = the first 4 bytes, big-endian, of SHA-256(seed bytes ‖ byte i).
 */
export const GEAR_SEED = 'hoard-fastcdc-gear-v1';

/** The 256 gear values, as signed 32-bit integers so the hash stays in V8's small-integer paths. */
export const GEAR: Int32Array = gearTable(Buffer.from(GEAR_SEED, 'utf8'));

/**
 * The gear table of a seed. An encrypted repository's seed is secret (crypto/keys.ts), so
 * its chunk boundaries, and with them chunk sizes, cannot be predicted from known content.
 */
export function gearTable(seed: Uint8Array): Int32Array {
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    const digest = createHash('sha256')
      .update(Buffer.concat([seed, Buffer.of(i)]))
      .digest();
    table[i] = digest.readInt32BE(0);
  }
  return table;
}

/**
 * A 32-bit mask of `bits` ones: bit 31 − r(k) for k = 0 … bits − 1, where r reverses the five
 * bits of k (0, 16, 8, 24, 4, …). Any such prefix is spread over the whole word, so a cut
 * depends on the hash's 32-byte window; and the masks nest (a mask with fewer bits is inside
 * one with more), so a point that is a boundary under `maskS` is one under `maskL` too, which
 * helps chunking fall back in step after an edit.
 */
export function spreadMask(bits: number): number {
  let mask = 0;
  for (let k = 0; k < bits; k++) {
    const reversed = ((k & 1) << 4) | ((k & 2) << 2) | (k & 4) | ((k & 8) >> 2) | ((k & 16) >> 4);
    mask |= 1 << (31 - reversed);
  }
  return mask | 0;
}

export interface ChunkSizes {
  min: number;
  avg: number;
  max: number;
  /** Harder mask, used before the average point: its bit count is log2(avg) + 2. */
  maskS: number;
  /** Easier mask, used from the average point on: log2(avg) - 2 bits. */
  maskL: number;
  /** The gear table (GEAR, or an encrypted repository's own). */
  gear: Int32Array;
}

export function chunkSizes(averageChunkSize: number, gear: Int32Array = GEAR): ChunkSizes {
  const bits = Math.round(Math.log2(averageChunkSize));
  return {
    min: averageChunkSize / 4,
    avg: averageChunkSize,
    max: averageChunkSize * 4,
    maskS: spreadMask(bits + 2),
    maskL: spreadMask(bits - 2),
    gear,
  };
}

/**
 * FastCDC (Xia et al., 2016) with normalised chunking, level 2, cut as a stream: `push` bytes as
 * they come and take the chunks it cuts, then `finish` for the last one. A boundary depends only
 * on the bytes since the previous boundary, never on how the input was split into pieces.
 *
 * From each chunk start the first `min` bytes are skipped unhashed; the gear hash
 * `fp = (fp << 1) + GEAR[byte]` starts at 0 on the byte at offset `min`. The chunk ends after
 * the first byte at offset `i` where `fp & maskS` is 0 (for i < avg) or `fp & maskL` is 0
 * (for i >= avg), or after `max` bytes, or at the end of the input.
 *
 * Memory: one buffer of at most 2 × max bytes, grown as needed, plus the chunk handed out.
 */
export class Chunker {
  readonly sizes: ChunkSizes;
  private buf: Buffer;
  /** Where the chunk being cut starts in `buf`, where its bytes end, and how far it is hashed. */
  private start = 0;
  private end = 0;
  private pos = 0;
  private fp = 0;

  constructor(averageChunkSize: number, gear: Int32Array = GEAR) {
    this.sizes = chunkSizes(averageChunkSize, gear);
    this.buf = Buffer.allocUnsafe(Math.min(64 * 1024, 2 * this.sizes.max));
  }

  /** Takes `data` (copied; the caller may reuse it) and returns the chunks it completes. */
  push(data: Uint8Array): Buffer[] {
    const chunks: Buffer[] = [];
    let offset = 0;
    while (offset < data.length) {
      if (this.end === this.buf.length) this.makeRoom();
      const n = Math.min(data.length - offset, this.buf.length - this.end);
      this.buf.set(data.subarray(offset, offset + n), this.end);
      this.end += n;
      offset += n;
      for (let cut = this.scan(); cut > 0; cut = this.scan()) chunks.push(this.take(cut));
    }
    return chunks;
  }

  /** The last chunk (what is left), or undefined if nothing is; the chunker can then be reused. */
  finish(): Buffer | undefined {
    const length = this.end - this.start;
    const last = length > 0 ? this.take(length) : undefined;
    this.start = 0;
    this.end = 0;
    return last;
  }

  /** The length of the next chunk if its end is among the bytes held, else 0 (hashing state kept). */
  private scan(): number {
    const { min, avg, max, maskS, maskL } = this.sizes;
    const start = this.start;
    const available = this.end - start;
    if (available <= min) return 0;
    const normalEnd = start + Math.min(available, avg);
    const maxEnd = start + Math.min(available, max);
    let at = start + Math.max(this.pos, min);
    let fp = this.fp;
    if (at < normalEnd) {
      const cut = gearScan(this.buf, at, normalEnd, fp, maskS, this.sizes.gear);
      if (cut >= 0) return cut - start;
      fp = scanned;
      at = normalEnd;
    }
    if (at < maxEnd) {
      const cut = gearScan(this.buf, at, maxEnd, fp, maskL, this.sizes.gear);
      if (cut >= 0) return cut - start;
      fp = scanned;
      at = maxEnd;
    }
    if (at - start >= max) return max;
    this.pos = at - start;
    this.fp = fp;
    return 0;
  }

  private take(length: number): Buffer {
    const chunk = Buffer.allocUnsafe(length);
    this.buf.copy(chunk, 0, this.start, this.start + length);
    this.start += length;
    this.pos = 0;
    this.fp = 0;
    return chunk;
  }

  /** Moves the partial chunk to the front, growing the buffer when it is more than half full. */
  private makeRoom(): void {
    const held = this.end - this.start;
    if (held * 2 > this.buf.length && this.buf.length < 2 * this.sizes.max) {
      const bigger = Buffer.allocUnsafe(Math.min(this.buf.length * 2, 2 * this.sizes.max));
      this.buf.copy(bigger, 0, this.start, this.end);
      this.buf = bigger;
    } else {
      this.buf.copyWithin(0, this.start, this.end);
    }
    this.start = 0;
    this.end = held;
  }
}

/**
 * The length of the chunk that starts at `buf[start]`, given the bytes up to `end`, or 0 if
 * more bytes are needed to know it (only when `atEnd` is false). The same boundaries as
 * Chunker, without its state or copies: for cutting a buffer in place, as the file workers do.
 * It rescans from the chunk's start on each call, so hand it at least `max` bytes (or the end
 * of the data) and a chunk is always found in one pass.
 */
export function cutLength(
  buf: Uint8Array,
  start: number,
  end: number,
  sizes: ChunkSizes,
  atEnd: boolean,
): number {
  const { min, avg, max, maskS, maskL } = sizes;
  const available = end - start;
  if (available <= min) return atEnd ? available : 0;
  const normalEnd = start + Math.min(available, avg);
  const maxEnd = start + Math.min(available, max);
  let cut = gearScan(buf, start + min, normalEnd, 0, maskS, sizes.gear);
  if (cut >= 0) return cut - start;
  if (normalEnd < maxEnd) {
    cut = gearScan(buf, normalEnd, maxEnd, scanned, maskL, sizes.gear);
    if (cut >= 0) return cut - start;
  }
  if (available >= max) return max;
  return atEnd ? available : 0;
}

/** The hash where the last `gearScan` stopped without a boundary (a second return value, without allocating). */
let scanned = 0;

/**
 * Rolls the gear hash over `buf[from..to)` from `fp` and returns the index just after the first
 * byte where `fp & mask` is 0, or -1 (the hash then in `scanned`). Unrolled by four: V8 runs
 * this about twice as fast as the plain loop.
 */
function gearScan(
  buf: Uint8Array,
  from: number,
  to: number,
  fp: number,
  mask: number,
  gear: Int32Array,
): number {
  let i = from;
  for (const end4 = to - 3; i < end4; i += 4) {
    fp = ((fp << 1) + gear[buf[i]!]!) | 0;
    if ((fp & mask) === 0) return i + 1;
    fp = ((fp << 1) + gear[buf[i + 1]!]!) | 0;
    if ((fp & mask) === 0) return i + 2;
    fp = ((fp << 1) + gear[buf[i + 2]!]!) | 0;
    if ((fp & mask) === 0) return i + 3;
    fp = ((fp << 1) + gear[buf[i + 3]!]!) | 0;
    if ((fp & mask) === 0) return i + 4;
  }
  for (; i < to; i++) {
    fp = ((fp << 1) + gear[buf[i]!]!) | 0;
    if ((fp & mask) === 0) return i + 1;
  }
  scanned = fp;
  return -1;
}
