import { HoardError } from '../errors.js';
import { GEAR } from './chunker.js';

export interface StoreOptions {
  /**
   * Average chunk size in bytes (FastCDC normalised chunking; min = avg/4, max = avg*4). A power
   * of two from 256 B to 64 MiB. Default 1 MiB. Stores written with different sizes still read
   * each other's blobs; they only deduplicate less against each other.
   * @default 1048576
   */
  averageChunkSize?: number;
  /**
   * A pack is closed once it holds this many bytes. At most 1 GiB. Default 16 MiB.
   * @default 16777216
   */
  packSize?: number;
  /**
   * Packs a writer uploads at once while the next fills (each holds its pack in memory).
   * 1 to 16. Default `HOARD_STORE_UPLOADS`, else 2: an object store's answer takes long
   * enough per request that one upload at a time leaves the protect waiting on it.
   * @default HOARD_STORE_UPLOADS, else 2
   */
  uploads?: number;
  /**
   * Packs whose reads a whole-checkpoint read (`readBatches`: restore, verify) starts before
   * their turn, 0 to 8, so that an object store's round trip overlaps the work on the pack
   * before; each holds only what its connection buffers until then. Default 0 (a local disk
   * answers at once).
   * @default 0
   */
  readAhead?: number;
  /**
   * 'auto' (default) or 'zstd': compress every blob whole with zstd level 3 and keep it
   * compressed only if that made it smaller (judged per blob, never from a sample).
   * 'deflate': the same with deflate level 1 (the earlier format). 'none': every blob as it
   * is. Readers need no option: each blob records how it was stored.
   * @default 'auto'
   */
  compression?: CompressionMode;
  /**
   * Bytes of whole packs kept in memory after a read, so that reading many blobs of one pack
   * fetches it once. A pack larger than this is streamed instead. Default 64 MiB; 0 streams always.
   * @default 67108864
   */
  cacheSize?: number;
  /**
   * Time to live of the store's leases (shared and prune), renewed every third of it. Default
   * `HOARD_LEASE_TTL_MS`, else 30 s: the same as a checkpoint's work lease.
   * @default HOARD_LEASE_TTL_MS, else 30000
   */
  leaseTtlMs?: number;
  /**
   * How long taking a shared lease (a writer, or `holdAs`) waits for a running prune to
   * finish before STORE_BUSY, in ms. Default `HOARD_STORE_WAIT` (seconds), else 10 minutes.
   * @default HOARD_STORE_WAIT × 1000, else 600000
   */
  waitMs?: number;
  /** Told why the store is being waited for (once per wait), for progress and logs. */
  onWait?: (message: string) => void;
  /**
   * Take a shared lease owned by this name at the first use of the store, and keep it (renewed)
   * until `release()`: what an operation does so that no prune can run between its first look
   * at the store and its end (for a protect, until its checkpoint's final status is written).
   */
  holdAs?: string;
  /**
   * The clock that times waiting for a prune (`waitMs`). Lease expiry is judged by the bank's
   * own clock (`LeaseInfo.live`), not this one.
   * @default Date.now
   */
  now?: () => number;
}

export type CompressionMode = 'auto' | 'zstd' | 'none' | 'deflate';

export interface ResolvedOptions {
  averageChunkSize: number;
  packSize: number;
  uploads: number;
  readAhead: number;
  compression: CompressionMode;
  cacheSize: number;
  leaseTtlMs: number;
  waitMs: number;
  onWait: ((message: string) => void) | undefined;
  holdAs: string | undefined;
  now: () => number;
  /**
   * How blobs are named and content cut: set by the store once it has read its bank's keys
   * (an encrypted bank's id key and gear table; none and GEAR without encryption).
   */
  naming: Naming;
}

export interface Naming {
  idKey?: Buffer;
  gear: Int32Array;
}

const MIB = 1024 * 1024;

export function resolveOptions(options: StoreOptions = {}): ResolvedOptions {
  const {
    averageChunkSize = MIB,
    packSize = 16 * MIB,
    uploads = Number(process.env.HOARD_STORE_UPLOADS) || 2,
    readAhead = 0,
    compression = 'auto',
    cacheSize = 64 * MIB,
    leaseTtlMs = Number(process.env.HOARD_LEASE_TTL_MS) || 30_000,
    waitMs = (Number(process.env.HOARD_STORE_WAIT) || 600) * 1000,
    onWait,
    holdAs,
    now = Date.now,
  } = options;
  const isPowerOfTwo =
    Number.isSafeInteger(averageChunkSize) && (averageChunkSize & (averageChunkSize - 1)) === 0;
  if (!isPowerOfTwo || averageChunkSize < 256 || averageChunkSize > 64 * MIB) {
    throw invalid(`averageChunkSize must be a power of two from 256 to ${64 * MIB}, got ${averageChunkSize}`);
  }
  if (!Number.isSafeInteger(packSize) || packSize < 1 || packSize > 1024 * MIB) {
    throw invalid(`packSize must be a whole number of bytes from 1 to ${1024 * MIB}, got ${packSize}`);
  }
  if (!Number.isSafeInteger(uploads) || uploads < 1 || uploads > 16) {
    throw invalid(`uploads must be a whole number from 1 to 16, got ${uploads}`);
  }
  if (!Number.isSafeInteger(readAhead) || readAhead < 0 || readAhead > 8) {
    throw invalid(`readAhead must be a whole number from 0 to 8, got ${readAhead}`);
  }
  if (!['auto', 'zstd', 'none', 'deflate'].includes(compression)) {
    throw invalid(`compression must be "auto", "zstd", "none" or "deflate", got "${String(compression)}"`);
  }
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) {
    throw invalid(`cacheSize must be a whole number of bytes >= 0, got ${cacheSize}`);
  }
  if (!Number.isFinite(leaseTtlMs) || leaseTtlMs < 100) {
    throw invalid(`leaseTtlMs must be at least 100, got ${leaseTtlMs}`);
  }
  if (!Number.isFinite(waitMs) || waitMs < 0) {
    throw invalid(`waitMs must be a number of ms >= 0, got ${waitMs}`);
  }
  if (holdAs !== undefined && (typeof holdAs !== 'string' || holdAs === '')) {
    throw invalid('holdAs must be a non-empty owner name');
  }
  return {
    averageChunkSize,
    packSize,
    uploads,
    readAhead,
    compression,
    cacheSize,
    leaseTtlMs,
    waitMs,
    onWait,
    holdAs,
    now,
    naming: { gear: GEAR },
  };
}

function invalid(message: string): HoardError {
  return new HoardError('STORE_ARGUMENT_INVALID', `content store: ${message}`);
}
