import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { deflateRaw, deflateRawSync, inflateRaw } from 'node:zlib';
import { HoardError } from '../errors.js';
import { hashPool } from './hash-pool.js';
import type { CompressionMode } from './options.js';
import type { Compression } from './pack.js';

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

export function blobId(raw: Uint8Array): string {
  return createHash('sha256').update(raw).digest('hex');
}

/** Bytes of a blob's start that 'auto' compression deflates to decide whether to deflate it all. */
export const SAMPLE_SIZE = 4096;
/** 'auto' deflates the whole blob only if the sample deflates to at most this fraction of it. */
export const SAMPLE_RATIO = 0.9;

/**
 * The bytes to store for `raw`: deflated only if asked ('deflate'; for 'auto', only if a
 * sample of its start shrinks by SAMPLE_RATIO) and if that saves space.
 */
export async function encodeBlob(
  raw: Buffer,
  compression: CompressionMode,
): Promise<{ stored: Buffer; compression: Compression }> {
  if (compression === 'auto' && raw.length > 0) {
    // The sample is small: deflated here, on the calling thread, in tens of microseconds.
    const sample = raw.length <= SAMPLE_SIZE ? raw : raw.subarray(0, SAMPLE_SIZE);
    const deflatedSample = deflateRawSync(sample, { level: 1 });
    if (deflatedSample.length > sample.length * SAMPLE_RATIO) return { stored: raw, compression: 'none' };
    if (sample.length === raw.length) return { stored: deflatedSample, compression: 'deflate' };
  }
  if (compression === 'deflate' || (compression === 'auto' && raw.length > 0)) {
    // On libuv's thread pool, off the calling thread.
    const deflated = await deflate(raw, { level: 1 });
    if (deflated.length < raw.length) return { stored: deflated, compression: 'deflate' };
  }
  return { stored: raw, compression: 'none' };
}

export interface StoredBlob {
  id: string;
  pack: string;
  offset: number;
  rawLength: number;
  compression: Compression;
}

/** The raw bytes of a stored blob, checked against its id; STORE_CORRUPT naming blob and pack if they are not. */
export async function decodeBlob(blob: StoredBlob, stored: Buffer): Promise<Buffer> {
  let raw = stored;
  if (blob.compression === 'deflate') {
    try {
      raw = await inflate(stored, { maxOutputLength: Math.max(1, blob.rawLength) });
    } catch (error) {
      throw damaged(blob, `does not inflate (${(error as Error).message})`, error);
    }
  }
  if (raw.length !== blob.rawLength)
    throw damaged(blob, `is ${raw.length} bytes, the index says ${blob.rawLength}`);
  // In a worker thread when the bytes can go there without a copy (an inflated blob);
  // slices of a pack and small blobs here.
  const hashed = await hashPool().hash(raw);
  raw = hashed.bytes;
  const actual = hashed.id;
  if (actual !== blob.id) throw damaged(blob, `hashes to ${actual}`);
  return raw;
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
