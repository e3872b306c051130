/**
 * Authenticated encryption of one stored object, in the STREAM construction of age
 * (age-encryption.org/v1, "payload"): the plaintext is cut into 64 KiB segments, each sealed
 * with an AEAD under a 12-byte nonce that is an 11-byte big-endian segment counter and a
 * last-segment flag. A reader can open any segment on its own (ranged reads), and
 * can tell a truncated, reordered or extended object from a whole one.
 *
 * On disk (Hoard's header): `HENC`, version 1, a 16-byte random nonce, then the segments
 * sealed with AES-256-GCM. The segment key is HKDF-SHA256(ikm = the repository's data key, salt = that nonce, info =
 * "hoard-object:" + the hex SHA-256 of the object's key): a fresh key for every write (an object rewritten under
 * the same name never reuses a key and nonce pair), and bound to the object's name, so an
 * object moved to another name does not open.
 *
 * Version 2 is for objects sealed before their name is known (a staged pack, named by its
 * content once full: `StreamSealer`): the key is HKDF-SHA256(data key, nonce, "hoard-staged"),
 * bound to no name, and the name is bound by the last segment alone, sealed with the SHA-256
 * of the name as associated data. docs/encryption.md says why a pack so sealed is still
 * refused under another name; readers accept version 2 only where a caller allows it.
 *
 * age files (age.ts, public-key mode) have their own header and seal the same segments with
 * ChaCha20-Poly1305, as age requires.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

export const SEGMENT = 64 * 1024;
const TAG = 16;
const SEALED_SEGMENT = SEGMENT + TAG;
const MAGIC = Buffer.from('HENC', 'latin1');
const VERSION = 1;
/** Sealed before its name was known (see the module's comment). */
const STAGED_VERSION = 2;
const NONCE = 16;
/** Bytes before the first segment: magic, version, nonce. */
const HEADER = MAGIC.length + 1 + NONCE;

/** Why an object would not open; the caller names the object. */
export class SealError extends Error {}

/** The segment key of an object: see the module's comment. */
export function objectKey(dataKey: Buffer, nonce: Buffer, name: string): Buffer {
  // The name hashed: HKDF's info is limited to 1024 bytes, and a key may be as long.
  const info = `hoard-object:${createHash('sha256').update(name).digest('hex')}`;
  return Buffer.from(hkdfSync('sha256', dataKey, nonce, info, 32));
}

function segmentNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  // 11 bytes of counter; an object would need 2^53 segments to pass what a double holds.
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/**
 * A segment key and its AEAD: AES-256-GCM for Hoard's own header (with AES-NI, as here,
 * about twice as fast as ChaCha20-Poly1305 in OpenSSL; bench:data measures both),
 * ChaCha20-Poly1305 for age files (age's format fixes it).
 */
export interface SegmentKey {
  cipher: 'aes-256-gcm' | 'chacha20-poly1305';
  key: Buffer;
  /** Associated data of the last segment (version 2: the name's SHA-256); none if undefined. */
  lastAad?: Buffer;
}

function sealSegment(key: SegmentKey, counter: number, last: boolean, plain: Uint8Array): Buffer[] {
  const cipher = createCipheriv(key.cipher as 'aes-256-gcm', key.key, segmentNonce(counter, last), {
    authTagLength: TAG,
  });
  if (last && key.lastAad) cipher.setAAD(key.lastAad);
  const body = cipher.update(plain);
  cipher.final();
  return [body, cipher.getAuthTag()];
}

function openSegment(key: SegmentKey, counter: number, last: boolean, sealed: Uint8Array): Buffer {
  if (sealed.length < TAG) throw new SealError(`segment ${counter} is cut short`);
  const decipher = createDecipheriv(key.cipher as 'aes-256-gcm', key.key, segmentNonce(counter, last), {
    authTagLength: TAG,
  });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  if (last && key.lastAad) decipher.setAAD(key.lastAad);
  const body = decipher.update(sealed.subarray(0, sealed.length - TAG));
  try {
    decipher.final();
  } catch {
    throw new SealError(`segment ${counter} fails authentication`);
  }
  return body;
}

/** How an object's header is made and read: Hoard's own (`hencFormat`) or age's (age.ts). */
export interface ObjectFormat {
  /** A fresh header and the key of the segments after it, for one write. */
  seal(): { header: Buffer; key: SegmentKey };
  /**
   * The header's length and the segments' key, from the stored object's first bytes;
   * undefined if more bytes are needed to tell; SealError if the bytes are not such a header.
   */
  open(bytes: Uint8Array): { length: number; key: SegmentKey } | undefined;
}

/**
 * Hoard's header (see the module's comment): `dataKey` and the object's name give the key.
 * Seals version 1; opens version 1, and version 2 if `staged` (the caller's names for staged
 * objects: packs).
 */
export function hencFormat(dataKey: Buffer, name: string, staged = false): ObjectFormat {
  return {
    seal() {
      const nonce = randomBytes(NONCE);
      return {
        header: Buffer.concat([MAGIC, Buffer.of(VERSION), nonce]),
        key: hencKey(dataKey, nonce, name),
      };
    },
    open(bytes) {
      if (bytes.length < HEADER) {
        const n = Math.min(bytes.length, MAGIC.length);
        if (!Buffer.from(bytes.subarray(0, n)).equals(MAGIC.subarray(0, n))) notHenc();
        return undefined;
      }
      if (!Buffer.from(bytes.subarray(0, MAGIC.length)).equals(MAGIC)) notHenc();
      const version = bytes[MAGIC.length];
      const nonce = Buffer.from(bytes.subarray(MAGIC.length + 1, HEADER));
      if (version === VERSION) return { length: HEADER, key: hencKey(dataKey, nonce, name) };
      if (version === STAGED_VERSION && staged) {
        return { length: HEADER, key: { ...stagedKey(dataKey, nonce), lastAad: nameDigest(name) } };
      }
      if (version === STAGED_VERSION) {
        throw new SealError('it is a staged object (format version 2), which only a pack may be');
      }
      throw new SealError(`its format version ${version} is not known`);
    },
  };
}

/** Version 2 (see the module's comment): a header and key for an object whose name is not known yet. */
export function hencStaged(dataKey: Buffer): { header: Buffer; key: SegmentKey } {
  const nonce = randomBytes(NONCE);
  return { header: Buffer.concat([MAGIC, Buffer.of(STAGED_VERSION), nonce]), key: stagedKey(dataKey, nonce) };
}

function stagedKey(dataKey: Buffer, nonce: Buffer): SegmentKey {
  return { cipher: 'aes-256-gcm', key: Buffer.from(hkdfSync('sha256', dataKey, nonce, 'hoard-staged', 32)) };
}

/** What a version 2 object's last segment is sealed with: the SHA-256 of its name. */
export function nameDigest(name: string): Buffer {
  return createHash('sha256').update(name).digest();
}

function hencKey(dataKey: Buffer, nonce: Buffer, name: string): SegmentKey {
  return { cipher: 'aes-256-gcm', key: objectKey(dataKey, nonce, name) };
}

function notHenc(): never {
  throw new SealError('it is not an encrypted object (no HENC header): was it written without encryption?');
}

/** The header (`format.open`) of a whole stored object; SealError if it has none. */
function headerOf(format: ObjectFormat, stored: Uint8Array): { length: number; key: SegmentKey } {
  const header = format.open(stored);
  if (header === undefined) throw new SealError('it is shorter than an encrypted object header');
  return header;
}

/** The whole object sealed: header and segments. */
export function sealBuffer(format: ObjectFormat, plain: Uint8Array): Buffer {
  const { header, key } = format.seal();
  return sealedParts(key, header, [plain]);
}

/** `header` and the plaintext `parts` hold back to back, sealed, in a new buffer. */
export function sealedParts(key: SegmentKey, header: Uint8Array, parts: readonly Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(sealedLength(lengthOf(parts), header.length));
  sealPartsInto(key, header, parts, out);
  return out;
}

/** The bytes `parts` hold together. */
export function lengthOf(parts: readonly Uint8Array[]): number {
  let total = 0;
  for (const part of parts) total += part.length;
  return total;
}

/** The length of an object whose plaintext is `length` bytes, sealed after a `headerLength`-byte header. */
export function sealedLength(length: number, headerLength: number): number {
  return headerLength + length + Math.max(1, Math.ceil(length / SEGMENT)) * TAG;
}

/**
 * Writes `header`, then the plaintext that `parts` hold back to back sealed segment by
 * segment, into `out` (exactly `sealedLength` bytes). A segment inside one part is sealed
 * where it lies; one across parts is gathered first. The only other copy is the ciphertext's,
 * into `out`: node:crypto has no update into a given buffer. Runs on worker threads too
 * (seal-worker.ts).
 */
export function sealPartsInto(
  key: SegmentKey,
  header: Uint8Array,
  parts: readonly Uint8Array[],
  out: Uint8Array,
): void {
  const total = lengthOf(parts);
  if (out.length !== sealedLength(total, header.length)) {
    throw new RangeError(
      `sealing ${total} bytes takes ${sealedLength(total, header.length)}, not ${out.length}`,
    );
  }
  out.set(header, 0);
  let pos = header.length;
  const count = Math.max(1, Math.ceil(total / SEGMENT));
  let k = 0; // the part being read, from `at`
  let at = 0;
  let gather: Buffer | undefined;
  for (let i = 0; i < count; i++) {
    const size = Math.min(SEGMENT, total - i * SEGMENT);
    while (k < parts.length && at === parts[k]!.length) {
      k++;
      at = 0;
    }
    let plain: Uint8Array;
    if (size === 0 || parts[k]!.length - at >= size) {
      plain = size === 0 ? new Uint8Array(0) : parts[k]!.subarray(at, at + size);
      at += size;
    } else {
      gather ??= Buffer.allocUnsafe(SEGMENT);
      let filled = 0;
      while (filled < size) {
        const part = parts[k]!;
        const take = Math.min(size - filled, part.length - at);
        gather.set(part.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (at === part.length) {
          k++;
          at = 0;
        }
      }
      plain = gather.subarray(0, size);
    }
    for (const sealed of sealSegment(key, i, i === count - 1, plain)) {
      out.set(sealed, pos);
      pos += sealed.length;
    }
  }
}

/** The plaintext of a whole stored object; SealError if any of it fails authentication. */
export function openBuffer(format: ObjectFormat, stored: Uint8Array): Buffer {
  const { length, key } = headerOf(format, stored);
  const body = stored.subarray(length);
  const count = segmentsOf(body.length);
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(
      openSegment(key, i, i === count - 1, body.subarray(i * SEALED_SEGMENT, (i + 1) * SEALED_SEGMENT)),
    );
  }
  return Buffer.concat(parts);
}

/** How many segments a sealed body of `length` bytes holds; SealError if no plaintext seals to that length. */
function segmentsOf(length: number): number {
  const count = Math.max(1, Math.ceil(length / SEALED_SEGMENT));
  const lastSealed = length - (count - 1) * SEALED_SEGMENT;
  // Only an empty object ends in an empty segment; any other ends in 1 … SEGMENT bytes.
  if (lastSealed < TAG || (count > 1 && lastSealed === TAG)) {
    throw new SealError(
      `its sealed body of ${length} bytes is not one an encrypted object can have (cut short?)`,
    );
  }
  return count;
}

/** The plaintext length of a stored object of `storedLength` bytes with a `headerLength`-byte header. */
export function plainLength(storedLength: number, headerLength: number): number {
  if (storedLength < headerLength + TAG) throw new SealError('it is shorter than an encrypted object');
  const body = storedLength - headerLength;
  return body - segmentsOf(body) * TAG;
}

/**
 * Bytes held back between pieces of a stream: at most one unit, copied as they come into one
 * buffer kept for the stream's life (a source may reuse its buffers). What `take` returns is
 * only valid until the next `add`: `units` hands it to `each` or `last`, which copy out of it.
 */
class Held {
  private buffer: Buffer | undefined;
  length = 0;

  constructor(private readonly size: number) {}

  add(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.buffer ??= Buffer.allocUnsafeSlow(this.size);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** The held bytes followed by `more` (together at most one unit), and nothing held after. */
  take(more?: Uint8Array): Buffer {
    if (more !== undefined) this.add(more);
    const taken = this.buffer === undefined ? Buffer.alloc(0) : this.buffer.subarray(0, this.length);
    this.length = 0;
    return taken;
  }
}

/**
 * Cuts a stream into units of `size` bytes for `each`, holding back the last (at most `size`
 * bytes, at least one if any came) for `last`: the end of a stream is only known at its end.
 * Units are sealed or opened in place where a piece holds them whole.
 */
async function* units(
  source: AsyncIterable<Uint8Array | string>,
  size: number,
  each: (unit: Uint8Array) => Buffer[],
  last: (unit: Buffer) => Buffer[],
  /** Join a piece's results into one buffer (fewer, larger writes) or give them as they are (no copy). */
  join: boolean,
): AsyncIterable<Buffer> {
  const held = new Held(size);
  for await (const piece of source) {
    const bytes: Uint8Array = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    const out: Buffer[] = [];
    let at = 0;
    if (held.length > 0) {
      const need = size - held.length;
      if (bytes.length <= need) {
        held.add(bytes);
        continue;
      }
      out.push(...each(held.take(bytes.subarray(0, need))));
      at = need;
    }
    while (bytes.length - at > size) {
      out.push(...each(bytes.subarray(at, at + size)));
      at += size;
    }
    held.add(bytes.subarray(at));
    if (out.length > 0) {
      if (join) yield Buffer.concat(out);
      else yield* out;
    }
  }
  const end = last(held.take());
  if (join) yield Buffer.concat(end);
  else yield* end;
}

/** Seals a stream of plaintext as it comes, a segment at a time, holding back one segment to know the last. */
export async function* sealStream(
  format: ObjectFormat,
  source: AsyncIterable<Uint8Array | string>,
): AsyncIterable<Buffer> {
  const { header, key } = format.seal();
  yield header;
  let counter = 0;
  yield* units(
    source,
    SEGMENT,
    (plain) => sealSegment(key, counter++, false, plain),
    (plain) => sealSegment(key, counter, true, plain),
    true,
  );
}

/** Opens a stream of a stored object as it comes; throws SealError at the first segment that fails. */
export async function* openStream(
  format: ObjectFormat,
  source: AsyncIterable<Uint8Array>,
): AsyncIterable<Buffer> {
  // The header's length is known once enough of it is read: peek, then open the rest.
  const reader = source[Symbol.asyncIterator]();
  let first: Buffer = Buffer.alloc(0);
  let header: { length: number; key: SegmentKey } | undefined;
  while (header === undefined) {
    const next = await reader.next();
    if (next.done) throw new SealError('it is shorter than an encrypted object header');
    const piece = next.value;
    // The first piece as it is (it usually holds the header and much more): copied only if it
    // must be kept while the next is read, since a source may reuse its buffers.
    const whole =
      first.length === 0
        ? Buffer.from(piece.buffer, piece.byteOffset, piece.length)
        : Buffer.concat([first, piece]);
    header = format.open(whole);
    first = header === undefined && first.length === 0 ? Buffer.from(whole) : whole;
  }
  const key = header.key;
  const rest = (async function* () {
    yield first.subarray(header!.length);
    for (;;) {
      const next = await reader.next();
      if (next.done) return;
      yield next.value;
    }
  })();
  let counter = 0;
  yield* units(
    rest,
    SEALED_SEGMENT,
    (sealed) => [openSegment(key, counter++, false, sealed)],
    (sealed) => [openSegment(key, counter, true, sealed)],
    false,
  );
}

/** Where the sealed segments that hold plaintext bytes [offset, offset + length) lie in the stored object. */
export function sealedRange(
  offset: number,
  length: number,
  headerLength: number,
): { first: number; from: number; to: number } {
  const first = Math.floor(offset / SEGMENT);
  const last = Math.floor((offset + length - 1) / SEGMENT);
  return {
    first,
    from: headerLength + first * SEALED_SEGMENT,
    to: headerLength + (last + 1) * SEALED_SEGMENT,
  };
}

/**
 * Opens consecutive sealed segments from `first` on (as `sealedRange` located them) and
 * returns their plaintext. `endsObject`: the bytes reach the stored object's end, so the
 * last of them is the object's last segment.
 */
export function openSegments(
  key: SegmentKey,
  first: number,
  sealed: Uint8Array,
  endsObject: boolean,
): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0, counter = first; at < sealed.length; at += SEALED_SEGMENT, counter++) {
    const piece = sealed.subarray(at, at + SEALED_SEGMENT);
    const last = endsObject && at + SEALED_SEGMENT >= sealed.length;
    parts.push(openSegment(key, counter, last, piece));
  }
  return Buffer.concat(parts);
}

/**
 * Seals an object written piece by piece whose name comes last (a staged pack): `push` gives
 * the header and the segments each piece completes, `end` the last segment, sealed with the
 * associated data then known. One segment of plaintext is held back (the last one is only
 * known at the end), copied, so a caller may reuse its pieces.
 */
export class StreamSealer {
  private readonly held = Buffer.allocUnsafe(SEGMENT);
  private heldLength = 0;
  private counter = 0;
  private header: Buffer | undefined;
  /** Where sealed segments are gathered, reused from write to write. */
  private readonly out = Buffer.allocUnsafe(WRITE_SEGMENTS * SEALED_SEGMENT);

  constructor(
    header: Buffer,
    private readonly key: SegmentKey,
  ) {
    this.header = header;
  }

  /**
   * The sealed bytes `bytes` completes, in pieces of at most 1 MiB; each is valid until the
   * next is asked for (the caller writes one before asking for the next).
   */
  *push(bytes: Uint8Array): Iterable<Buffer> {
    let used = 0;
    const put = (plain: Uint8Array) => {
      for (const sealed of sealSegment(this.key, this.counter++, false, plain)) {
        this.out.set(sealed, used);
        used += sealed.length;
      }
    };
    if (this.header !== undefined) {
      yield this.header;
      this.header = undefined;
    }
    for (let at = 0; at < bytes.length; ) {
      if (used + SEALED_SEGMENT > this.out.length) {
        yield this.out.subarray(0, used);
        used = 0;
      }
      if (this.heldLength === SEGMENT) {
        put(this.held);
        this.heldLength = 0;
      } else if (this.heldLength === 0 && bytes.length - at > SEGMENT) {
        // Sealed where it lies: more follows, so it is not the last.
        put(bytes.subarray(at, at + SEGMENT));
        at += SEGMENT;
      } else {
        const take = Math.min(SEGMENT - this.heldLength, bytes.length - at);
        this.held.set(bytes.subarray(at, at + take), this.heldLength);
        this.heldLength += take;
        at += take;
      }
    }
    if (used > 0) yield this.out.subarray(0, used);
  }

  /** The last segment (and the header, if nothing was pushed), its associated data `lastAad`. */
  end(lastAad?: Buffer): Buffer {
    const key = lastAad ? { ...this.key, lastAad } : this.key;
    const last = sealSegment(key, this.counter, true, this.held.subarray(0, this.heldLength));
    const header = this.header ?? Buffer.alloc(0);
    this.header = undefined;
    return Buffer.concat([header, ...last]);
  }
}

/** Segments a `StreamSealer` gathers before giving them to be written: 1 MiB of plaintext. */
const WRITE_SEGMENTS = 16;
