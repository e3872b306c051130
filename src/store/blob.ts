import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { deflateRaw, deflateRawSync, inflateRaw, inflateRawSync } from 'node:zlib';
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
 * 'auto' deflates a blob of at most this many bytes whole, without a sample, and keeps it
 * deflated if it shrank by SAMPLE_RATIO: for small blobs a sample would cost about as much.
 */
export const WHOLE_BELOW = 64 * 1024;

/**
 * The bytes to store for `raw`: deflated only if asked ('deflate'; for 'auto', only if a
 * sample of its start shrinks by SAMPLE_RATIO) and if that saves space.
 */
export async function encodeBlob(
  raw: Buffer,
  compression: CompressionMode,
): Promise<{ stored: Buffer; compression: Compression }> {
  const sampled = sampleFirst(raw, compression);
  if (sampled !== undefined) return sampled;
  // On libuv's thread pool, off the calling thread.
  return smaller(raw, await deflate(raw, { level: 1 }));
}

/** encodeBlob on the calling thread: for worker threads, where blocking is the point. */
export function encodeBlobSync(
  raw: Uint8Array,
  compression: CompressionMode,
): { stored: Uint8Array; compression: Compression } {
  return sampleFirst(raw, compression) ?? smaller(raw, deflateRawSync(raw, { level: 1 }));
}

/** The answer when it is known without deflating the whole blob, else undefined (deflate it). */
function sampleFirst<T extends Uint8Array>(
  raw: T,
  compression: CompressionMode,
): { stored: T | Buffer; compression: Compression } | undefined {
  if (raw.length === 0 || compression === 'none') return { stored: raw, compression: 'none' };
  if (compression === 'auto') {
    // A small blob is its own sample: deflated here, on the calling thread, in tens of microseconds.
    const whole = raw.length <= WHOLE_BELOW;
    const sample = whole ? raw : raw.subarray(0, SAMPLE_SIZE);
    const deflatedSample = deflateRawSync(sample, { level: 1 });
    if (deflatedSample.length > sample.length * SAMPLE_RATIO) return { stored: raw, compression: 'none' };
    if (whole) return { stored: deflatedSample, compression: 'deflate' };
  }
  return undefined;
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

/**
 * decodeBlob on the calling thread (for worker threads): the raw bytes of a stored blob,
 * checked against its id; STORE_CORRUPT naming blob and pack if they are not.
 */
export function decodeBlobSync(blob: StoredBlob, stored: Uint8Array): Uint8Array {
  let raw = stored;
  if (blob.compression === 'deflate') {
    try {
      raw = inflateRawSync(stored, { maxOutputLength: Math.max(1, blob.rawLength) });
    } catch (error) {
      throw damaged(blob, `does not inflate (${(error as Error).message})`, error);
    }
  }
  if (raw.length !== blob.rawLength)
    throw damaged(blob, `is ${raw.length} bytes, the index says ${blob.rawLength}`);
  const actual = blobId(raw);
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
