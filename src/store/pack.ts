/**
 * The pack format (docs/store-format.md): blobs back to back from offset 0, then one 48-byte
 * entry per blob, then a 48-byte trailer. The entries repeat the pack's index object, so an
 * index can be rebuilt from the pack alone.
 */
import { createHash } from 'node:crypto';
import { Parts } from '../bank/types.js';
import { HoardError } from '../errors.js';

export type Compression = 'none' | 'deflate' | 'zstd';

/** One blob of a pack, as both the index object and the pack's own entries record it. */
export interface BlobEntry {
  /** SHA-256 of the blob's raw (uncompressed) bytes, hex. */
  id: string;
  /** Where the stored bytes start in the pack. */
  offset: number;
  /** Stored bytes (compressed, if `compression` says so). */
  length: number;
  /** Bytes once decompressed. */
  rawLength: number;
  compression: Compression;
}

/** The index object `index/<pack>.json`. */
export interface PackIndex {
  version: 1;
  pack: string;
  blobs: BlobEntry[];
}

export const PACK_MAGIC = 'HOARDPK1';
export const ENTRY_SIZE = 48;
export const TRAILER_SIZE = 48;

const COMPRESSION_CODE: Record<Compression, number> = { none: 0, deflate: 1, zstd: 2 };
const COMPRESSION_NAME: readonly Compression[] = ['none', 'deflate', 'zstd'];

/** The size of the pack object an index describes. */
export function packSize(blobs: readonly BlobEntry[]): number {
  let data = 0;
  for (const b of blobs) data += b.length;
  return data + blobs.length * ENTRY_SIZE + TRAILER_SIZE;
}

/**
 * The id of a pack: the SHA-256 of its entries and trailer (its last 48n + 48 bytes). The
 * entries name each blob by the SHA-256 of its raw bytes and the trailer holds the hash of
 * the entries, so the id covers every byte of the pack without hashing the blob data again.
 */
export function packId(entries: Uint8Array, trailer: Uint8Array): string {
  return createHash('sha256').update(entries).update(trailer).digest('hex');
}

/**
 * A pack being filled. Its parts are kept as given (never copied into one buffer), unless
 * added with `copy`: those are copied into the builder's arena while it has room.
 */
export class PackBuilder {
  private readonly parts: Buffer[] = [];
  private readonly entries: BlobEntry[] = [];
  /** Bytes of blob data so far. */
  size = 0;
  /** Memory that copied blobs go into; handed back by `seal()` for reuse once the pack is written. */
  arena: Buffer | undefined;
  private arenaUsed = 0;

  get count(): number {
    return this.entries.length;
  }

  add(id: string, stored: Buffer, rawLength: number, compression: Compression, copy = false): void {
    if (copy) {
      if (this.arena !== undefined && this.arenaUsed + stored.length <= this.arena.length) {
        this.arena.set(stored, this.arenaUsed);
        stored = this.arena.subarray(this.arenaUsed, this.arenaUsed + stored.length);
        this.arenaUsed += stored.length;
      } else {
        stored = Buffer.from(stored);
      }
    }
    this.entries.push({ id, offset: this.size, length: stored.length, rawLength, compression });
    // Blobs that lie back to back in one buffer (a file worker's output) stay one part, so a
    // pack of small blobs is written in a few large writes.
    const last = this.parts[this.parts.length - 1];
    if (
      last !== undefined &&
      last.buffer === stored.buffer &&
      last.byteOffset + last.length === stored.byteOffset
    ) {
      this.parts[this.parts.length - 1] = Buffer.from(
        last.buffer,
        last.byteOffset,
        last.length + stored.length,
      );
    } else {
      this.parts.push(stored);
    }
    this.size += stored.length;
  }

  /** Appends the entries and trailer; the builder is spent. */
  seal(): { index: PackIndex; parts: Buffer[]; size: number } {
    const { index, tail } = packTail(this.entries, this.size);
    return { index, parts: [...this.parts, tail], size: this.size + tail.length };
  }
}

/** The entries and trailer that end a pack whose blobs (`dataSize` bytes) are `blobs`, and its index. */
export function packTail(blobs: BlobEntry[], dataSize: number): { index: PackIndex; tail: Buffer } {
  const entries = encodeEntries(blobs);
  const trailer = encodeTrailer(blobs.length, dataSize, entries);
  const pack = packId(entries, trailer);
  return { index: { version: 1, pack, blobs }, tail: Buffer.concat([entries, trailer]) };
}

/** Parts as the bank's put takes them, so a pack is never copied into one buffer. */
export function partsStream(parts: readonly Buffer[]): Parts {
  return new Parts(parts);
}

/** The pack's entries for `blobs`, 48 bytes each: what its tail and the binary index hold. */
export function encodeEntries(blobs: readonly BlobEntry[]): Buffer {
  const out = Buffer.alloc(blobs.length * ENTRY_SIZE);
  blobs.forEach((b, i) => {
    const at = i * ENTRY_SIZE;
    out.write(b.id, at, 32, 'hex');
    out.writeUInt32BE(b.offset, at + 32);
    out.writeUInt32BE(b.length, at + 36);
    out.writeUInt32BE(b.rawLength, at + 40);
    out.writeUInt8(COMPRESSION_CODE[b.compression], at + 44);
  });
  return out;
}

function encodeTrailer(count: number, dataSize: number, entries: Buffer): Buffer {
  const out = Buffer.alloc(TRAILER_SIZE);
  out.writeUInt32BE(count, 0);
  out.writeUInt32BE(dataSize, 4);
  createHash('sha256').update(entries).digest().copy(out, 8);
  out.write(PACK_MAGIC, 40, 'latin1');
  return out;
}

/**
 * The blob entries a whole pack records in its trailer, checked against the trailer's hash and
 * the pack's size. STORE_CORRUPT naming the pack if they do not hold together.
 */
export function readPackEntries(pack: string, bytes: Buffer): BlobEntry[] {
  const damaged = (why: string) =>
    new HoardError('STORE_CORRUPT', `pack ${pack} is damaged: ${why}`, { details: { pack } });
  if (bytes.length < TRAILER_SIZE) throw damaged(`${bytes.length} bytes is too short for a trailer`);
  const trailer = bytes.subarray(bytes.length - TRAILER_SIZE);
  if (trailer.toString('latin1', 40, 48) !== PACK_MAGIC) throw damaged(`the trailer lacks "${PACK_MAGIC}"`);
  const count = trailer.readUInt32BE(0);
  const dataSize = trailer.readUInt32BE(4);
  if (dataSize + count * ENTRY_SIZE + TRAILER_SIZE !== bytes.length) {
    throw damaged(
      `the trailer says ${count} blobs in ${dataSize} bytes, but the pack is ${bytes.length} bytes`,
    );
  }
  const entries = bytes.subarray(dataSize, dataSize + count * ENTRY_SIZE);
  // Packs written before ids were taken over the entries and trailer were named by the hash
  // of all their bytes; either names the pack soundly.
  const named = (): boolean => createHash('sha256').update(bytes).digest('hex') === pack;
  return parseTail(pack, entries, trailer, damaged, named);
}

/**
 * The entries of a pack's tail (its entries and trailer), checked: the trailer's hash of the
 * entries, the pack's id over both (or `otherwise()`), and blobs back to back filling the
 * trailer's data size.
 */
function parseTail(
  pack: string,
  entries: Buffer,
  trailer: Buffer,
  damaged: (why: string) => HoardError,
  otherwise: () => boolean = () => false,
): BlobEntry[] {
  const count = trailer.readUInt32BE(0);
  const dataSize = trailer.readUInt32BE(4);
  if (!createHash('sha256').update(entries).digest().equals(trailer.subarray(8, 40))) {
    throw damaged('its blob entries do not match the hash in its trailer');
  }
  if (packId(entries, trailer) !== pack && !otherwise()) {
    throw damaged('its entries and trailer do not hash to its id');
  }
  const blobs: BlobEntry[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const at = i * ENTRY_SIZE;
    if (COMPRESSION_NAME[entries.readUInt8(at + 44)] === undefined)
      throw damaged(`blob ${entries.toString('hex', at, at + 32)} has an unknown compression code`);
    const blob = decodeEntry(entries, i);
    if (blob.offset !== offset) throw damaged(`blob ${blob.id} is at ${blob.offset}, expected ${offset}`);
    offset += blob.length;
    blobs.push(blob);
  }
  if (offset !== dataSize) throw damaged(`its blobs fill ${offset} bytes, the trailer says ${dataSize}`);
  return blobs;
}

/**
 * Entry `i` of `entries` (encodeEntries), whose compression code is known to be valid; `id`
 * if the caller has its id as a string already.
 */
export function decodeEntry(entries: Buffer, i: number, id?: string): BlobEntry {
  const at = i * ENTRY_SIZE;
  return {
    id: id ?? entries.toString('hex', at, at + 32),
    offset: entries.readUInt32BE(at + 32),
    length: entries.readUInt32BE(at + 36),
    rawLength: entries.readUInt32BE(at + 40),
    compression: COMPRESSION_NAME[entries.readUInt8(at + 44)]!,
  };
}

/**
 * The index object as stored: the pack's own tail, its entries and trailer (48 bytes a blob,
 * plus 48), which its id authenticates. A pack named the older way (by the hash of all its
 * bytes: prune rewriting the index of such a pack) gets the earlier form, one line of JSON.
 * Readers take both (`decodeIndex`). The JSON took ~140 bytes a blob: 2.9 MB of index for
 * the 21,000 blobs of bench:data's tree, against 1.0 MB now.
 */
export function encodeIndex(index: PackIndex): Buffer {
  let dataSize = 0;
  for (const b of index.blobs) dataSize += b.length;
  const entries = encodeEntries(index.blobs);
  const trailer = encodeTrailer(index.blobs.length, dataSize, entries);
  if (packId(entries, trailer) === index.pack) return Buffer.concat([entries, trailer]);
  return Buffer.from(encodeIndexJson(index));
}

/** The index object as JSON, one line: the form written before 2026-12-07, still read. */
export function encodeIndexJson(index: PackIndex): string {
  return JSON.stringify({
    version: index.version,
    pack: index.pack,
    blobs: index.blobs.map(({ id, offset, length, rawLength, compression }) => ({
      id,
      offset,
      length,
      rawLength,
      compression,
    })),
  });
}

/**
 * Parses and checks an index object, in either form (`encodeIndex`): a pack's tail (it ends
 * with the pack magic, where JSON ends with "}") or JSON. STORE_CORRUPT naming `key` if it is
 * not one for `pack`.
 */
export function decodeIndex(key: string, pack: string, bytes: Buffer): PackIndex {
  const damaged = (why: string) =>
    new HoardError('STORE_CORRUPT', `index ${key} is damaged: ${why}`, { details: { key, pack } });
  if (bytes.length >= TRAILER_SIZE && bytes.toString('latin1', bytes.length - 8) === PACK_MAGIC) {
    const trailer = bytes.subarray(bytes.length - TRAILER_SIZE);
    const count = trailer.readUInt32BE(0);
    if (count * ENTRY_SIZE + TRAILER_SIZE !== bytes.length) {
      throw damaged(`its trailer says ${count} blobs, but it is ${bytes.length} bytes`);
    }
    return {
      version: 1,
      pack,
      blobs: parseTail(pack, bytes.subarray(0, count * ENTRY_SIZE), trailer, damaged),
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw damaged(`not JSON (${(error as Error).message})`);
  }
  const index = value as Partial<PackIndex> | null;
  if (index === null || typeof index !== 'object' || index.version !== 1)
    throw damaged('not a version 1 index');
  if (index.pack !== pack) throw damaged(`it names pack ${String(index.pack)}`);
  if (!Array.isArray(index.blobs)) throw damaged('no blobs list');
  let offset = 0;
  const blobs: BlobEntry[] = [];
  for (const [i, raw] of index.blobs.entries()) {
    const b = raw as Partial<BlobEntry> | null;
    const ok =
      b !== null &&
      typeof b === 'object' &&
      typeof b.id === 'string' &&
      /^[0-9a-f]{64}$/.test(b.id) &&
      b.offset === offset &&
      isUint32(b.length) &&
      isUint32(b.rawLength) &&
      (b.compression === 'none' || b.compression === 'deflate' || b.compression === 'zstd');
    if (!ok) throw damaged(`blob entry ${i} is not {id, offset, length, rawLength, compression} in order`);
    offset += b.length!;
    blobs.push({
      id: b.id!,
      offset: b.offset!,
      length: b.length!,
      rawLength: b.rawLength!,
      compression: b.compression!,
    });
  }
  return { version: 1, pack, blobs };
}

function isUint32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}
