import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import { HoardError } from '../errors.js';
import { hashPool } from './hash-pool.js';
import type { Compression } from './pack.js';

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

export function blobId(raw: Uint8Array): string {
  return createHash('sha256').update(raw).digest('hex');
}

/** The bytes to store for `raw`: deflated only if asked and if that saves space. */
export async function encodeBlob(
  raw: Buffer,
  compression: Compression,
): Promise<{ stored: Buffer; compression: Compression }> {
  if (compression === 'deflate') {
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
