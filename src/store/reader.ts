import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { Bank } from '../bank/index.js';
import { HoardError } from '../errors.js';
import { decodeBlob } from './blob.js';
import type { BlobIndex, Location } from './blob-index.js';
import { BLOB_ID, packKey } from './keys.js';
import type { Naming } from './options.js';

/**
 * Reads blobs out of packs. The bank has no ranged reads, so a pack that fits the cache is
 * fetched whole once and kept (least recently used goes first); a larger one is streamed up to
 * the blobs wanted, a run of neighbouring blobs in one pass.
 */
export class BlobReader {
  /** Whole packs by id, at most `cacheSize` bytes of them. */
  private readonly cache: LRUCache<string, Buffer>;
  private readonly fetching = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly bank: Bank,
    private readonly index: BlobIndex,
    private readonly cacheSize: number,
    /** How blobs are named (the store sets it once it has read its bank's keys). */
    private readonly naming: Naming,
  ) {
    // lru-cache wants sizes of at least 1: an empty pack counts 1, a cache of 0 bytes holds nothing.
    this.cache = new LRUCache({
      maxSize: Math.max(1, cacheSize),
      maxEntrySize: Math.max(1, cacheSize),
      sizeCalculation: (bytes) => Math.max(1, bytes.length),
    });
  }

  async readBlob(id: string): Promise<Buffer> {
    for await (const blob of this.blobs([id])) return blob;
    throw new HoardError('INTERNAL', `reading blob ${id} gave nothing`);
  }

  /** The blobs' raw bytes in order, each checked against its id; at most one run of blobs held at a time. */
  async *blobs(ids: readonly string[]): AsyncGenerator<Buffer> {
    for (const id of ids) checkId(id);
    let i = 0;
    let retried = -1;
    while (i < ids.length) {
      const first = await this.locate(ids[i]!);
      const run = [first];
      if (!this.cacheable(first.pack)) {
        while (i + run.length < ids.length) {
          const next = this.index.get(ids[i + run.length]!);
          const last = run[run.length - 1]!;
          if (next?.pack !== first.pack || next.offset < last.offset + last.length) break;
          run.push(next);
        }
      }
      let stored: AsyncIterable<Buffer>;
      try {
        stored = await this.stored(run);
      } catch (error) {
        if (error instanceof HoardError && error.code === 'BANK_OBJECT_CORRUPT')
          throw unauthentic(first, error);
        if (!(error instanceof HoardError && error.code === 'BANK_NOT_FOUND')) throw error;
        // A prune may have moved the blob since the index was read: look again, once.
        if (retried === i) throw missingPack(first, error);
        retried = i;
        await this.index.refresh();
        continue;
      }
      let k = 0;
      try {
        for await (const bytes of stored) yield await decodeBlob(run[k++]!, bytes, this.naming.idKey);
      } catch (error) {
        if (error instanceof HoardError && error.code === 'BANK_OBJECT_CORRUPT') {
          throw unauthentic(run[Math.min(k, run.length - 1)]!, error);
        }
        throw error;
      }
      i += run.length;
    }
  }

  /** Where a blob is, looking at the index objects again if this process has not seen it. */
  async locate(id: string): Promise<Location> {
    await this.index.ensureLoaded();
    let location = this.index.get(id);
    if (location === undefined) {
      await this.index.refresh();
      location = this.index.get(id);
    }
    if (location === undefined) {
      throw new HoardError('STORE_CORRUPT', `blob ${id} is not in the content store's index`, {
        details: { blob: id },
      });
    }
    return location;
  }

  private cacheable(pack: string): boolean {
    const size = this.index.packSize(pack);
    return size !== undefined && size <= this.cacheSize;
  }

  /** The stored bytes of each blob of `run` (one pack, ascending offsets), in order. */
  private async stored(run: Location[]): Promise<AsyncIterable<Buffer>> {
    const pack = run[0]!.pack;
    if (this.cacheable(pack)) {
      const bytes = await this.whole(pack);
      return (async function* () {
        for (const blob of run) yield sliceBlob(bytes, blob);
      })();
    }
    return streamBlobs(await this.bank.getStream(packKey(pack)), run);
  }

  private async whole(pack: string): Promise<Buffer> {
    const hit = this.cache.get(pack);
    if (hit !== undefined) return hit;
    let fetching = this.fetching.get(pack);
    if (fetching === undefined) {
      fetching = this.bank.get(packKey(pack)).finally(() => this.fetching.delete(pack));
      this.fetching.set(pack, fetching);
      const bytes = await fetching;
      this.remember(pack, bytes);
      return bytes;
    }
    return fetching;
  }

  private remember(pack: string, bytes: Buffer): void {
    if (this.cacheSize > 0 && bytes.length <= this.cacheSize && !this.cache.has(pack))
      this.cache.set(pack, bytes);
  }
}

export function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !BLOB_ID.test(id)) {
    throw new HoardError(
      'STORE_ARGUMENT_INVALID',
      `"${String(id)}" is not a blob id (64 lowercase hex digits)`,
      {
        details: { blob: String(id) },
      },
    );
  }
}

function sliceBlob(pack: Buffer, blob: Location): Buffer {
  if (blob.offset + blob.length > pack.length) throw truncated(blob, pack.length);
  return pack.subarray(blob.offset, blob.offset + blob.length);
}

/** The blobs of `run` cut out of a pack's byte stream; the stream is closed after the last. */
async function* streamBlobs(stream: Readable, run: Location[]): AsyncGenerator<Buffer> {
  let position = 0;
  let k = 0;
  let parts: Buffer[] = [];
  let collected = 0;
  try {
    for await (const piece of stream as AsyncIterable<Buffer>) {
      let at = 0;
      while (k < run.length && at < piece.length) {
        const blob = run[k]!;
        const skip = Math.max(0, blob.offset - (position + at));
        at += Math.min(skip, piece.length - at);
        if (at === piece.length) break;
        const take = Math.min(blob.length - collected, piece.length - at);
        parts.push(piece.subarray(at, at + take));
        collected += take;
        at += take;
        if (collected === blob.length) {
          const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, collected);
          parts = [];
          collected = 0;
          k++;
          yield bytes;
        }
      }
      position += piece.length;
      if (k === run.length) return;
    }
    // A zero-length blob at the very end needs no bytes.
    while (k < run.length && run[k]!.length === 0 && run[k]!.offset <= position) {
      k++;
      yield Buffer.alloc(0);
    }
    if (k < run.length) throw truncated(run[k]!, position);
  } finally {
    stream.destroy();
  }
}

/** STORE_CORRUPT: the pack ends before `blob` does. */
export function truncated(blob: Location, size: number): HoardError {
  return new HoardError(
    'STORE_CORRUPT',
    `blob ${blob.id} in pack ${blob.pack} at offset ${blob.offset} is damaged: the pack ends at byte ${size}, before the blob's ${blob.length} bytes`,
    { details: { blob: blob.id, pack: blob.pack, offset: blob.offset } },
  );
}

function missingPack(blob: Location, cause: unknown): HoardError {
  return new HoardError(
    'STORE_CORRUPT',
    `blob ${blob.id} is in pack ${blob.pack}, and that pack is missing from the bank`,
    { details: { blob: blob.id, pack: blob.pack }, cause },
  );
}

/** STORE_CORRUPT for a blob whose (encrypted) pack fails authentication: damage a verify records. */
export function unauthentic(blob: Location, cause: HoardError): HoardError {
  return new HoardError(
    'STORE_CORRUPT',
    `blob ${blob.id} is in pack ${blob.pack}, which ${cause.message.replace(/^.*?fails authentication: /, 'fails authentication: ')}`,
    {
      details: { blob: blob.id, pack: blob.pack },
      cause,
    },
  );
}
