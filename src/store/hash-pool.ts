/**
 * SHA-256 off the main thread: a few worker threads (one per core by default) that hash byte
 * ranges of buffers handed to them, so that the main thread reads, chunks and writes while
 * they hash. A buffer that owns its whole ArrayBuffer is moved to the worker and back (no
 * copy); one over a SharedArrayBuffer is shared; anything else, and anything small, is
 * hashed on the calling thread, where a round trip would cost more than the hash.
 *
 * Answers come back per request, so callers keep their own order. Idle workers do not keep
 * the process alive. A worker that dies fails its requests (never silently) and is replaced
 * on the next request.
 *
 * Why not piscina, as fs.directory's file work and sealing use: per request it costs more than
 * a hash of a chunk takes. `npm run bench:hash-pool` (the same hashing on piscina, as many
 * threads, the buffer moved there and back, 4 requests in flight; 2 cores, under load,
 * 2026-12): 1 MiB requests 1486 MiB/s here against 1214 on piscina (-18%), 128 KiB requests
 * 8646 against 4908 a second (-43%). Chunks average 1 MiB and many are smaller, and the
 * store's writer hashes every one of them, so piscina would slow every protect.
 */

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { HoardError } from '../errors.js';
import { blobId } from './blob-id.js';

/** Requests with fewer bytes than this are hashed on the calling thread. */
export const INLINE_BELOW = 64 * 1024;

export type Range = readonly [offset: number, length: number];

export interface Hashed {
  /** The hex SHA-256 of each range, in the order asked. */
  ids: string[];
  /**
   * The bytes hashed: the buffer given, or, if it was moved to a worker and back, a new Buffer
   * over the same memory (the one given is then detached and empty: use this one).
   */
  bytes: Buffer;
}

interface Pending {
  resolve(hashed: Hashed): void;
  reject(error: unknown): void;
  /** The view to rebuild over a returned buffer. */
  byteOffset: number;
  length: number;
  bytes: Buffer;
  transferred: boolean;
  weight: number;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Bytes queued at this worker, to send a request where the least is waiting. */
  load: number;
}

const WORKER_URL = new URL('./hash-worker.js', import.meta.url);

export class HashPool {
  private readonly slots: (Slot | undefined)[];
  private seq = 0;
  private closed = false;

  /**
   * `size` workers (0: hash everything on the calling thread), each running `worker`
   * (default hash-worker.js; a test passes one that can be made to die).
   */
  constructor(
    readonly size: number = defaultSize(),
    private readonly worker: URL = WORKER_URL,
  ) {
    this.slots = new Array<Slot | undefined>(Math.max(0, Math.floor(size))).fill(undefined);
  }

  /** The blob id of the whole of `bytes`: SHA-256, or HMAC-SHA256 under `idKey` (blob.ts, `blobId`). */
  async hash(bytes: Buffer, idKey?: Uint8Array): Promise<{ id: string; bytes: Buffer }> {
    const hashed = await this.hashRanges(bytes, [[0, bytes.length]], idKey);
    return { id: hashed.ids[0]!, bytes: hashed.bytes };
  }

  /** The blob id of each range of `bytes` (offsets relative to `bytes`). */
  hashRanges(bytes: Buffer, ranges: readonly Range[], idKey?: Uint8Array): Promise<Hashed> {
    let weight = 0;
    for (const [offset, length] of ranges) {
      if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0)) {
        return Promise.reject(new RangeError(`hash range ${offset}+${length} is not two whole numbers >= 0`));
      }
      if (offset + length > bytes.length) {
        return Promise.reject(
          new RangeError(`hash range ${offset}+${length} is outside the ${bytes.length} bytes given`),
        );
      }
      weight += length;
    }
    const shared = bytes.buffer instanceof SharedArrayBuffer;
    const owned = !shared && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    if (this.slots.length === 0 || this.closed || weight < INLINE_BELOW || !(shared || owned)) {
      return Promise.resolve({ ids: ranges.map(([o, n]) => blobId(bytes.subarray(o, o + n), idKey)), bytes });
    }
    const slot = this.pick();
    const seq = this.seq++;
    const flat: number[] = [];
    for (const [offset, length] of ranges) flat.push(bytes.byteOffset + offset, length);
    return new Promise<Hashed>((resolve, reject) => {
      slot.pending.set(seq, {
        resolve,
        reject,
        byteOffset: bytes.byteOffset,
        length: bytes.length,
        bytes,
        transferred: owned,
        weight,
      });
      slot.load += weight;
      if (slot.pending.size === 1) slot.worker.ref();
      const message = { seq, buffer: bytes.buffer, ranges: flat, transferred: owned, idKey };
      try {
        slot.worker.postMessage(message, owned ? [bytes.buffer as ArrayBuffer] : []);
      } catch (error) {
        this.settle(slot, seq);
        reject(error);
      }
    });
  }

  /** Stops the workers; later requests are hashed on the calling thread. */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((slot) => slot?.worker.terminate()));
  }

  private pick(): Slot {
    let best: Slot | undefined;
    for (let i = 0; i < this.slots.length; i++) {
      let slot = this.slots[i];
      if (slot === undefined) {
        slot = this.spawn(i);
        this.slots[i] = slot;
      }
      if (best === undefined || slot.load < best.load) best = slot;
      if (best.load === 0) break;
    }
    return best!;
  }

  private spawn(i: number): Slot {
    // Required when a first thread starts: a command that hashes nothing does not load it.
    const { Worker: Thread } = createRequire(import.meta.url)(
      'node:worker_threads',
    ) as typeof import('node:worker_threads');
    // Its heap holds almost nothing (the bytes are moved or shared): a small young generation
    // saves ~10 MiB a thread.
    const worker = new Thread(this.worker, { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    worker.unref();
    const slot: Slot = { worker, pending: new Map(), load: 0 };
    worker.on('message', (answer: { seq: number; ids?: string[]; error?: string; buffer?: ArrayBuffer }) => {
      const task = this.settle(slot, answer.seq);
      if (task === undefined) return;
      const bytes =
        task.transferred && answer.buffer !== undefined
          ? Buffer.from(answer.buffer, task.byteOffset, task.length)
          : task.bytes;
      if (answer.error !== undefined || answer.ids === undefined) {
        task.reject(new HoardError('INTERNAL', `hashing in a worker thread failed: ${answer.error}`));
      } else {
        task.resolve({ ids: answer.ids, bytes });
      }
    });
    const fail = (error: unknown) => {
      if (this.slots[i] === slot) this.slots[i] = undefined;
      const pending = [...slot.pending.values()];
      slot.pending.clear();
      slot.load = 0;
      worker.unref();
      for (const task of pending) {
        task.reject(
          new HoardError('INTERNAL', `a hashing worker thread stopped: ${describe(error)}`, { cause: error }),
        );
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    return slot;
  }

  private settle(slot: Slot, seq: number): Pending | undefined {
    const task = slot.pending.get(seq);
    if (task === undefined) return undefined;
    slot.pending.delete(seq);
    slot.load -= task.weight;
    if (slot.pending.size === 0) slot.worker.unref();
    return task;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One worker per core, or HOARD_HASH_THREADS if set (0: no workers). */
function defaultSize(): number {
  const env = process.env.HOARD_HASH_THREADS;
  if (env !== undefined && /^\d+$/.test(env)) return Number(env);
  return availableParallelism();
}

let shared: HashPool | undefined;

/** The process's pool, created on first use; its workers start on the first large request. */
export function hashPool(): HashPool {
  shared ??= new HashPool();
  return shared;
}
