import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { HoardError } from '../errors.js';
import { blobId } from './blob-id.js';
import { hashPool } from './hash-pool.js';
import type { CompressionMode } from './options.js';
import type { Compression } from './pack.js';
import { ZSTD_LEVEL, zstdCompress, zstdDecompress } from './zstd.js';

/** node:zlib, required when a first blob is deflated or inflated: listing loads none of it. */
const zlib = () => createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib');
const deflate = (raw: Uint8Array, options: import('node:zlib').ZlibOptions) =>
  promisify(zlib().deflateRaw)(raw, options);
const inflate = (stored: Uint8Array, options: import('node:zlib').ZlibOptions) =>
  promisify(zlib().inflateRaw)(stored, options);

export { blobId };

/**
 * The bytes to store for `raw`: with 'auto' or 'zstd', the whole blob compressed with zstd
 * (level 3) and kept so only if that made it smaller (judged per blob, never from a sample of
 * a file's start); with 'deflate' (the earlier format), deflated and kept if smaller; with
 * 'none', as it is. Runs on the calling thread: zstd gives up on incompressible data at
 * ~430 MB/s, so a 4 MiB blob costs ~10 ms at worst.
 */
export async function encodeBlob(
  raw: Buffer,
  compression: CompressionMode,
): Promise<{ stored: Buffer; compression: Compression }> {
  if (compression === 'deflate' && raw.length > 0) return smaller(raw, await deflate(raw, { level: 1 }));
  return encodeBlobSync(raw, compression) as { stored: Buffer; compression: Compression };
}

/**
 * encodeBlob on the calling thread: for worker threads, where blocking is the point.
 * `transient`: compressed bytes may be in this thread's scratch memory, valid until its next
 * transient call (for a caller that copies them at once).
 */
export function encodeBlobSync(
  raw: Uint8Array,
  compression: CompressionMode,
  transient = false,
): { stored: Uint8Array; compression: Compression } {
  if (raw.length === 0 || compression === 'none') return { stored: raw, compression: 'none' };
  if (compression === 'deflate') return smaller(raw, zlib().deflateRawSync(raw, { level: 1 }));
  const compressed = zstdCompress(raw, ZSTD_LEVEL, transient);
  return compressed ? { stored: compressed, compression: 'zstd' } : { stored: raw, compression: 'none' };
}

function smaller<T extends Uint8Array>(
  raw: T,
  deflated: Buffer,
): { stored: T | Buffer; compression: Compression } {
  return deflated.length < raw.length
    ? { stored: deflated, compression: 'deflate' }
    : { stored: raw, compression: 'none' };
}

export interface StoredBlob {
  id: string;
  pack: string;
  offset: number;
  rawLength: number;
  compression: Compression;
}

/** The raw bytes of a stored blob, checked against its id; STORE_CORRUPT naming blob and pack if they are not. */
export async function decodeBlob(blob: StoredBlob, stored: Buffer, idKey?: Uint8Array): Promise<Buffer> {
  let raw = stored;
  if (blob.compression === 'deflate') {
    try {
      raw = await inflate(stored, { maxOutputLength: Math.max(1, blob.rawLength) });
    } catch (error) {
      throw damaged(blob, `does not inflate (${(error as Error).message})`, error);
    }
  } else if (blob.compression === 'zstd') raw = unzstd(blob, stored);
  if (raw.length !== blob.rawLength)
    throw damaged(blob, `is ${raw.length} bytes, the index says ${blob.rawLength}`);
  // In a worker thread when the bytes can go there without a copy (an inflated blob);
  // slices of a pack and small blobs here.
  const hashed = await hashPool().hash(raw, idKey);
  raw = hashed.bytes;
  const actual = hashed.id;
  if (actual !== blob.id) throw damaged(blob, `hashes to ${actual}`);
  return raw;
}

/**
 * decodeBlob on the calling thread (for worker threads): the raw bytes of a stored blob,
 * checked against its id; STORE_CORRUPT naming blob and pack if they are not. `transient`:
 * decompressed bytes may be in this thread's scratch memory, valid until its next transient
 * call (for a caller that writes them out at once).
 */
export function decodeBlobSync(
  blob: StoredBlob,
  stored: Uint8Array,
  idKey?: Uint8Array,
  transient = false,
): Uint8Array {
  let raw = stored;
  if (blob.compression === 'deflate') {
    try {
      raw = zlib().inflateRawSync(stored, { maxOutputLength: Math.max(1, blob.rawLength) });
    } catch (error) {
      throw damaged(blob, `does not inflate (${(error as Error).message})`, error);
    }
  } else if (blob.compression === 'zstd') raw = unzstd(blob, stored, transient);
  if (raw.length !== blob.rawLength)
    throw damaged(blob, `is ${raw.length} bytes, the index says ${blob.rawLength}`);
  const actual = blobId(raw, idKey);
  if (actual !== blob.id) throw damaged(blob, `hashes to ${actual}`);
  return raw;
}

function unzstd(blob: StoredBlob, stored: Uint8Array, transient = false): Buffer {
  try {
    return zstdDecompress(stored, blob.rawLength, transient);
  } catch (error) {
    throw damaged(blob, `does not decompress (${(error as Error).message})`, error);
  }
}

function damaged(blob: StoredBlob, why: string, cause?: unknown): HoardError {
  return new HoardError(
    'STORE_CORRUPT',
    `blob ${blob.id} in pack ${blob.pack} at offset ${blob.offset} is damaged: it ${why}`,
    {
      details: { blob: blob.id, pack: blob.pack, offset: blob.offset },
      ...(cause === undefined ? {} : { cause }),
    },
  );
}
