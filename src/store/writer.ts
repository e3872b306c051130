import type { Bank } from '../bank/index.js';
import { HoardError } from '../errors.js';
import { encodeBlob } from './blob.js';
import type { BlobIndex } from './blob-index.js';
import { clearPackDamage } from './check.js';
import { Chunker } from './chunker.js';
import { hashPool } from './hash-pool.js';
import { BLOB_ID, indexKey, PACKS, packKey } from './keys.js';
import type { SharedLease } from './leases.js';
import type { ResolvedOptions } from './options.js';
import { type Compression, encodeIndex, PackBuilder, type PackIndex, partsStream } from './pack.js';
import { StagedPack } from './staged-pack.js';

export interface WriteResult {
  /** The blob ids of the data's chunks, in order; none for empty data. */
  blobs: string[];
  /** Bytes of data read. */
  size: number;
  /** Bytes (before compression) of chunks this call stored because the store lacked them. */
  newBytes: number;
}

export interface CloseResult {
  packsWritten: number;
  blobsWritten: number;
  /** Bytes of pack objects written (blobs as stored, plus entries and trailers). */
  bytesWritten: number;
  /** Bytes of chunks not stored because the store or this writer already had them. */
  bytesDeduplicated: number;
}

export interface StoreWriter {
  /**
   * Splits data into content-defined chunks (FastCDC; data shorter than the minimum chunk size
   * is one blob), names each by SHA-256 (hex), stores the blobs the store does not already have
   * (also dedups within this writer and across concurrent write() calls), and returns the blob
   * ids in order. Safe to call concurrently. Memory bounded: the chunk being cut, the open pack
   * and at most `uploads` packs being uploaded (on a bank that stages, a 1 MiB write buffer
   * each: the packs fill temporaries in the bank). Each piece of a stream is copied before the next is
   * asked for, so a source may hand out the same buffer again and again.
   */
  write(data: AsyncIterable<Uint8Array> | Uint8Array): Promise<WriteResult>;
  /** Stores `data` as one blob, as it is (no chunking, up to 256 MiB); returns its id. */
  writeBlob(data: Uint8Array): Promise<{ id: string; newBytes: number }>;
  /**
   * Stores a blob that was cut, hashed and encoded elsewhere (a worker thread: see
   * `cutLength`, `encodeBlobSync`), unless the store or this writer has it; true if it was
   * new. The caller vouches that `id` is the id (`blobId`, under the store's `encoding().idKey`) of the raw bytes `stored` encodes. The
   * bytes are copied into the pack's memory: the caller may reuse `stored` once this resolves.
   */
  putEncoded(blob: EncodedBlob): Promise<boolean>;
  /**
   * Waits for write() calls in flight, writes the open pack and its index and releases the
   * lease; only after close() are the returned blobs durable and may a checkpoint refer to
   * them. Throws (after releasing the lease) if any pack failed to upload or the lease was lost.
   */
  close(): Promise<CloseResult>;
  /** Gives up: releases the lease; packs already written become garbage for prune. */
  abort(): Promise<void>;
}

/** A blob as it goes into a pack: its id, its stored bytes and how to get the raw bytes back. */
export interface EncodedBlob {
  id: string;
  stored: Buffer;
  rawLength: number;
  compression: Compression;
}

/** An arena holds a pack's worth of blobs and the blob that takes it over the pack size. */
const ARENA_SLACK = 4 * 1024 * 1024;

/** Input is cut in slices of this size, so a huge buffer never yields many chunks at once. */
const SLICE = 1024 * 1024;
const MAX_BLOB = 256 * 1024 * 1024;
/** Chunks of one write() being hashed at once (each at most 4 × the average chunk size). */
const HASH_AHEAD = 3;

export class Writer implements StoreWriter {
  private state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  /** Blobs this writer has taken on: in the open pack, being uploaded or uploaded. */
  private readonly known = new Set<string>();
  /** The pack filling: written to the bank as it fills where the bank can stage (staged-pack.ts). */
  private open: PackBuilder | StagedPack;
  /** Packs being uploaded, at most `options.uploads`. */
  private readonly uploading = new Set<Promise<void>>();
  private failure: unknown;
  private readonly writes = new Set<Promise<unknown>>();
  /** Pack memory for putEncoded() blobs, free for the next pack. */
  private readonly arenas: Buffer[] = [];
  /** Write buffers of staged packs, free for the next pack. */
  private readonly writeBuffers: Buffer[] = [];
  /** Finished chunkers, for the next write()s to reuse. */
  private readonly chunkers: Chunker[] = [];
  private readonly totals: CloseResult = {
    packsWritten: 0,
    blobsWritten: 0,
    bytesWritten: 0,
    bytesDeduplicated: 0,
  };

  constructor(
    private readonly bank: Bank,
    private readonly index: BlobIndex,
    private readonly options: ResolvedOptions,
    private readonly lease: SharedLease,
  ) {
    this.open = this.newPack();
  }

  write(data: AsyncIterable<Uint8Array> | Uint8Array): Promise<WriteResult> {
    try {
      this.accepting();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.track(this.cut(data));
  }

  writeBlob(data: Uint8Array): Promise<{ id: string; newBytes: number }> {
    try {
      this.accepting();
      if (!(data instanceof Uint8Array) || data.length > MAX_BLOB) {
        throw new HoardError('STORE_ARGUMENT_INVALID', `writeBlob takes bytes, at most ${MAX_BLOB} of them`);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.track(
      (async () => {
        const hashed = await hashPool().hash(Buffer.from(data), this.options.naming.idKey);
        const { id, isNew } = await this.store(hashed.bytes, hashed.id);
        return { id, newBytes: isNew ? data.length : 0 };
      })(),
    );
  }

  putEncoded(blob: EncodedBlob): Promise<boolean> {
    try {
      this.accepting();
      checkEncoded(blob);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.track(
      (async () => {
        if (this.dedup(blob.id, blob.rawLength)) return false;
        await this.place(blob, true);
        return true;
      })(),
    );
  }

  async close(): Promise<CloseResult> {
    if (this.state !== 'open') throw closed(this.state);
    this.state = 'closing';
    try {
      await Promise.allSettled(this.writes);
      await this.uploaded();
      if (this.failure === undefined && this.open.count > 0) {
        this.startUpload();
        await this.uploaded();
      }
      if (this.failure !== undefined) throw this.failure;
      // Proves the lease held throughout: a prune that started meanwhile would have seen it.
      await this.lease.kept.confirm();
    } catch (error) {
      this.state = 'closed';
      // A pack that never got its upload leaves no temporary behind.
      if (this.open instanceof StagedPack && this.open.count > 0) await this.open.discard().catch(() => {});
      await this.lease.end().catch(() => {});
      throw error;
    }
    this.state = 'closed';
    await this.lease.end();
    return { ...this.totals };
  }

  async abort(): Promise<void> {
    // A closing writer releases its lease itself, whatever happens.
    if (this.state !== 'open') return;
    this.state = 'aborted';
    const open = this.open;
    this.open = new PackBuilder();
    if (open instanceof StagedPack) await open.discard().catch(() => {});
    await this.uploaded();
    await this.lease.end();
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.writes.add(work);
    const done = () => this.writes.delete(work);
    work.then(done, done);
    return work;
  }

  private async cut(data: AsyncIterable<Uint8Array> | Uint8Array): Promise<WriteResult> {
    // Chunkers (and their buffers of up to 2 × max bytes) are reused from write to write.
    const chunker =
      this.chunkers.pop() ?? new Chunker(this.options.averageChunkSize, this.options.naming.gear);
    const result: WriteResult = { blobs: [], size: 0, newBytes: 0 };
    // Chunks are hashed in worker threads while the next are cut; they are stored in order.
    const pool = hashPool();
    const hashing: Promise<{ id: string; bytes: Buffer }>[] = [];
    const drain = async (keep: number) => {
      while (hashing.length > keep) {
        const { id, bytes } = await hashing.shift()!;
        const { isNew } = await this.store(bytes, id);
        result.blobs.push(id);
        if (isNew) result.newBytes += bytes.length;
      }
    };
    const take = async (chunk: Buffer) => {
      const hashed = pool.hash(chunk, this.options.naming.idKey);
      // Awaited in order by drain(); if an earlier one fails first, this one must not go unhandled.
      hashed.catch(() => {});
      hashing.push(hashed);
      await drain(HASH_AHEAD - 1);
    };
    const feed = async (piece: Uint8Array) => {
      for (let at = 0; at < piece.length; at += SLICE) {
        for (const chunk of chunker.push(piece.subarray(at, at + SLICE))) await take(chunk);
      }
      result.size += piece.length;
    };
    if (data instanceof Uint8Array) await feed(data);
    else {
      for await (const piece of data) {
        if (!(piece instanceof Uint8Array)) {
          throw new HoardError(
            'STORE_ARGUMENT_INVALID',
            `write() takes bytes; the stream gave a ${typeof piece} (a stream with an encoding set?)`,
          );
        }
        await feed(piece);
      }
    }
    const last = chunker.finish();
    if (last !== undefined) await take(last);
    await drain(0);
    this.chunkers.push(chunker);
    return result;
  }

  /** Adds one chunk to the open pack unless the store or this writer has it. */
  private async store(raw: Buffer, id: string): Promise<{ id: string; isNew: boolean }> {
    if (this.dedup(id, raw.length)) return { id, isNew: false };
    const { stored, compression } = await encodeBlob(raw, this.options.compression);
    await this.place({ id, stored, rawLength: raw.length, compression });
    return { id, isNew: true };
  }

  /**
   * True if the store or this writer has the blob already; else claims it, before any await,
   * so that a concurrent write of the same blob dedups against this one.
   */
  private dedup(id: string, rawLength: number): boolean {
    this.usable();
    if (this.known.has(id) || this.index.has(id)) {
      this.totals.bytesDeduplicated += rawLength;
      return true;
    }
    this.known.add(id);
    return false;
  }

  /** Adds a claimed blob to the open pack; `copy`: into the pack's own memory, not as a view of `stored`. */
  private async place({ id, stored, rawLength, compression }: EncodedBlob, copy = false): Promise<void> {
    // A full pack waits for an upload to end: at most `uploads` packs upload while one fills.
    while (this.open.size >= this.options.packSize) {
      if (this.uploading.size < this.options.uploads) this.startUpload();
      else await Promise.race(this.uploading);
      this.usable();
    }
    this.usable();
    if (this.open instanceof StagedPack) {
      const written = this.open.add(id, stored, rawLength, compression);
      if (this.open.size >= this.options.packSize && this.uploading.size < this.options.uploads) {
        this.startUpload();
      }
      return written;
    }
    // An arena per pack filling or uploading, reused pack after pack; shared
    // memory, so that an encrypting bank's sealing thread reads a pack where it lies.
    if (copy && this.open.arena === undefined)
      this.open.arena =
        this.arenas.pop() ?? Buffer.from(new SharedArrayBuffer(this.options.packSize + ARENA_SLACK));
    this.open.add(id, stored, rawLength, compression, copy);
    if (this.open.size >= this.options.packSize && this.uploading.size < this.options.uploads) {
      this.startUpload();
    }
  }

  private startUpload(): void {
    const builder = this.open;
    this.open = this.newPack();
    const upload: Promise<void> = this.put(builder)
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.uploading.delete(upload);
      });
    this.uploading.add(upload);
  }

  /** Waits until no pack is being uploaded. */
  private async uploaded(): Promise<void> {
    while (this.uploading.size > 0) await Promise.all(this.uploading);
  }

  private newPack(): PackBuilder | StagedPack {
    const staged = this.bank.stage?.(PACKS);
    return staged ? new StagedPack(staged, this.writeBuffers) : new PackBuilder();
  }

  /** The pack, then its index: an index never names a pack that is not stored. */
  private async put(builder: PackBuilder | StagedPack): Promise<void> {
    let index: PackIndex;
    let size: number;
    if (builder instanceof StagedPack) {
      try {
        ({ index, size } = await builder.seal());
        await this.lease.kept.confirm();
        await builder.commit(packKey(index.pack));
      } catch (error) {
        await builder.discard().catch(() => {});
        throw error;
      }
    } else {
      const sealed = builder.seal();
      ({ index, size } = sealed);
      await this.lease.kept.confirm();
      await this.bank.put(packKey(index.pack), partsStream(sealed.parts));
      if (builder.arena !== undefined) this.arenas.push(builder.arena);
    }
    await this.bank.put(indexKey(index.pack), encodeIndex(index));
    await clearPackDamage(this.bank, this.index, index.pack);
    this.index.add(index);
    this.totals.packsWritten++;
    this.totals.blobsWritten += index.blobs.length;
    this.totals.bytesWritten += size;
  }

  /** Throws unless a new write() may start. */
  private accepting(): void {
    if (this.state !== 'open') throw closed(this.state);
    this.usable();
  }

  /** Throws if a write() in flight may not go on. */
  private usable(): void {
    if (this.state === 'closed' || this.state === 'aborted') throw closed(this.state);
    if (this.failure !== undefined) throw this.failure;
    const lost = this.lease.kept.lost;
    if (lost !== undefined) throw lost;
  }
}

function checkEncoded(blob: EncodedBlob): void {
  const ok =
    blob !== null &&
    typeof blob === 'object' &&
    typeof blob.id === 'string' &&
    BLOB_ID.test(blob.id) &&
    Buffer.isBuffer(blob.stored) &&
    Number.isSafeInteger(blob.rawLength) &&
    blob.rawLength >= 0 &&
    blob.rawLength <= MAX_BLOB &&
    (blob.compression === 'none'
      ? blob.stored.length === blob.rawLength
      : blob.compression === 'zstd' || blob.compression === 'deflate');
  if (!ok) {
    throw new HoardError(
      'STORE_ARGUMENT_INVALID',
      'putEncoded takes {id: 64 hex digits, stored: Buffer, rawLength, compression: "none" (stored is rawLength bytes), "zstd" or "deflate"}',
    );
  }
}

function closed(state: string): HoardError {
  return new HoardError('STORE_WRITER_CLOSED', `this content store writer is ${state}`);
}
