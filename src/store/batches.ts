/**
 * Reading many blobs at once, pack by pack: each pack that holds any of them is streamed
 * once, front to back, and the stored bytes of the blobs wanted are copied into batches in
 * shared memory, which worker threads decode and check (`decodeBlobSync`) in parallel. This is
 * how a restore or a verify of a whole checkpoint reads, where `BlobReader` serves blob by blob.
 */
import type { Bank, Pieces } from '../bank/index.js';
import { HoardError } from '../errors.js';
import type { BlobIndex, Location } from './blob-index.js';
import { packKey } from './keys.js';
import { truncated, unauthentic } from './reader.js';

/** One blob of a batch: where it is in the store and where its stored bytes are in the batch. */
export interface BatchBlob extends Location {
  /** Offset of the stored bytes in the batch's `bytes`. */
  at: number;
}

export interface BlobBatch {
  /** The blobs' stored bytes back to back, over a SharedArrayBuffer (share it, do not copy it). */
  bytes: Uint8Array;
  blobs: BatchBlob[];
  /** The store's id key (encrypted banks): decode the blobs with `decodeBlobSync(blob, bytes, idKey)`. */
  idKey?: Uint8Array;
}

export interface BatchOptions {
  /** A batch holds at most this many bytes, or one blob if that is larger. Default 16 MiB. */
  batchBytes?: number;
  /**
   * Memory to reuse: a batch is filled in one of these (if large enough) before a new one is
   * made. A caller done with a batch pushes its `bytes.buffer` here, so a long read cycles
   * through a few buffers instead of leaving a trail of them to the garbage collector.
   */
  reuse?: SharedArrayBuffer[];
  /**
   * Called for blobs that cannot be read (missing pack, pack too short), which are then left
   * out. Without it, the first such blob throws STORE_CORRUPT.
   */
  damaged?: (blobs: Location[], why: HoardError) => void;
  /** Cancels the reads (see `SectionOptions.signal`): the next batch fails with its reason. */
  signal?: AbortSignal;
  /** Packs whose reads start before their turn (`StoreOptions.readAhead`). Default 0. */
  readAhead?: number;
}

/**
 * Every location's stored bytes, each distinct blob once, in batches. Packs are read in the
 * order their first blob appears in `locations`, each front to back. A pack that has gone
 * (a prune rewrote it meanwhile) is looked up again in the index once.
 */
export async function* readBatches(
  bank: Bank,
  index: BlobIndex,
  locations: Iterable<Location>,
  { batchBytes = 16 * 1024 * 1024, damaged, reuse = [], readAhead = 0 }: BatchOptions = {},
): AsyncGenerator<BlobBatch> {
  const report = (blobs: Location[], why: HoardError) => {
    if (damaged === undefined) throw why;
    damaged(blobs, why);
  };
  /** Full batches, yielded between pieces of a pack. */
  const ready: BlobBatch[] = [];
  let batch: OpenBatch | undefined;
  /** Space for a blob's stored bytes in the open batch, closing it first if the blob does not fit. */
  const slot = (blob: Location): Uint8Array => {
    if (batch !== undefined && batch.used + blob.length > batch.bytes.length) {
      ready.push(finish(batch));
      batch = undefined;
    }
    if (batch === undefined) {
      const size = Math.max(batchBytes, blob.length);
      const memory = reuse.pop();
      batch = newBatch(
        memory !== undefined && memory.byteLength >= size ? memory : new SharedArrayBuffer(size),
      );
    }
    const at = batch.used;
    batch.used += blob.length;
    batch.blobs.push({ ...blob, at });
    return batch.bytes.subarray(at, at + blob.length);
  };

  let byPack = groupByPack(locations);
  let retried = false;
  while (byPack.size > 0) {
    const moved: Location[] = [];
    const packs = [...byPack.keys()];
    const ahead = new StreamsAhead(bank, packs, readAhead);
    try {
      for (const [i, pack] of packs.entries()) {
        const run = byPack.get(pack)!;
        run.sort((a, b) => a.offset - b.offset);
        let stream: Pieces;
        try {
          stream = await ahead.take(i);
        } catch (error) {
          if (!(error instanceof HoardError && error.code === 'BANK_NOT_FOUND')) throw error;
          if (!retried) moved.push(...run);
          else report(run, missingPack(pack, error));
          continue;
        }
        // Each piece of the pack is copied straight to where its blobs go, before the next is
        // asked for (getPieces may reuse its buffer): one copy per byte.
        let position = 0;
        let k = 0;
        let into: Uint8Array | undefined;
        let filled = 0;
        try {
          for await (const piece of stream) {
            let at = 0;
            while (k < run.length && at < piece.length) {
              const blob = run[k]!;
              if (into === undefined) {
                const skip = blob.offset - (position + at);
                if (skip > 0) {
                  at += Math.min(skip, piece.length - at);
                  if (at === piece.length) break;
                }
                into = slot(blob);
                filled = 0;
              }
              const take = Math.min(blob.length - filled, piece.length - at);
              into.set(piece.subarray(at, at + take), filled);
              filled += take;
              at += take;
              if (filled === blob.length) {
                into = undefined;
                k++;
              }
            }
            position += piece.length;
            yield* ready.splice(0);
            if (k === run.length) break;
          }
        } catch (error) {
          if (!(error instanceof HoardError && error.code === 'BANK_OBJECT_CORRUPT')) throw error;
          // An encrypted pack failed authentication here: the blobs not yet whole are not trusted.
          if (into !== undefined) {
            batch!.blobs.pop();
            batch!.used -= run[k]!.length;
            into = undefined;
          }
          const lost = run.slice(k);
          k = run.length;
          report(lost, unauthentic(lost[0]!, error));
        } finally {
          stream.destroy();
        }
        if (into !== undefined) {
          // The pack ended inside this blob: take it back out of its batch (the last one in it).
          const blob = run[k++]!;
          batch!.blobs.pop();
          batch!.used -= blob.length;
          into = undefined;
          report([blob], truncated(blob, position));
        }
        for (; k < run.length; k++) {
          const blob = run[k]!;
          // A zero-length blob at the very end needs no bytes.
          if (blob.length === 0 && blob.offset <= position) slot(blob);
          else report([blob], truncated(blob, position));
        }
        yield* ready.splice(0);
      }
    } finally {
      ahead.close();
    }
    if (moved.length === 0) break;
    // A prune may have rewritten the packs since the index was read: look again, once.
    retried = true;
    await index.refresh();
    const relocated: Location[] = [];
    for (const old of moved) {
      const now = index.get(old.id);
      if (now === undefined || now.pack === old.pack) report([old], missingPack(old.pack, undefined, old.id));
      else relocated.push(now);
    }
    byPack = groupByPack(relocated);
  }
  if (batch !== undefined && batch.blobs.length > 0) yield finish(batch);
}

/**
 * The packs' streams, in order, each opened up to `ahead` packs before its turn: an object
 * store's round trip and first reads then overlap the work on the pack before. A stream not
 * yet read holds little: an HTTP response pauses its socket once its small buffer is full
 * (the rest waits in the kernel's socket buffer, or on the server).
 */
class StreamsAhead {
  private readonly opened = new Map<number, Promise<Pieces>>();

  constructor(
    private readonly bank: Bank,
    private readonly packs: readonly string[],
    private readonly ahead: number,
  ) {}

  /** Pack `i`'s stream (its failure is thrown here), opening the next packs' meanwhile. */
  take(i: number): Promise<Pieces> {
    for (let j = i; j <= i + this.ahead && j < this.packs.length; j++) {
      if (this.opened.has(j)) continue;
      const key = packKey(this.packs[j]!);
      const opening = this.bank.getPieces ? this.bank.getPieces(key) : this.bank.getStream(key);
      // Awaited in its turn; until then a failure must not count as unhandled.
      opening.catch(() => {});
      this.opened.set(j, opening);
    }
    const stream = this.opened.get(i)!;
    this.opened.delete(i);
    return stream;
  }

  /** Closes the streams opened and not taken (the reading stopped early). */
  close(): void {
    for (const opening of this.opened.values())
      opening.then(
        (s) => s.destroy(),
        () => {},
      );
    this.opened.clear();
  }
}

interface OpenBatch {
  bytes: Uint8Array;
  blobs: BatchBlob[];
  used: number;
}

function newBatch(memory: SharedArrayBuffer): OpenBatch {
  return { bytes: new Uint8Array(memory), blobs: [], used: 0 };
}

function finish(batch: OpenBatch): BlobBatch {
  return { bytes: batch.bytes.subarray(0, batch.used), blobs: batch.blobs };
}

/** Distinct blobs by pack, packs in order of first appearance. */
function groupByPack(locations: Iterable<Location>): Map<string, Location[]> {
  const seen = new Set<string>();
  const byPack = new Map<string, Location[]>();
  for (const location of locations) {
    if (seen.has(location.id)) continue;
    seen.add(location.id);
    let run = byPack.get(location.pack);
    if (run === undefined) {
      run = [];
      byPack.set(location.pack, run);
    }
    run.push(location);
  }
  return byPack;
}

function missingPack(pack: string, cause: unknown, blob?: string): HoardError {
  return new HoardError(
    'STORE_CORRUPT',
    `${blob ? `blob ${blob} is in pack ${pack}, and that pack` : `pack ${pack}`} is missing from the bank`,
    { details: { pack, ...(blob ? { blob } : {}) }, ...(cause === undefined ? {} : { cause }) },
  );
}
