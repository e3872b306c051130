/**
 * Protect, in a worker thread: files read into shared memory, cut there into chunks (FastCDC,
 * the store's sizes), each hashed and encoded in place, for the main thread to put in packs.
 *
 * In two phases, so that one large file is not read at one core's speed: first the task's
 * files are read and cut (fast, and the only part that must follow the file in order), and
 * where the last file goes on past this task, where its next piece starts is published in
 * `continuation` at once; the main thread starts that piece on another thread while this one
 * hashes, compresses and lays out the chunks it cut (the slow part).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { encodeBlobSync } from '../../../store/blob.js';
import { blobId } from '../../../store/blob-id.js';
import { type ChunkSizes, cutLength } from '../../../store/chunker.js';
import type { CompressionMode } from '../../../store/options.js';
import type { Compression } from '../../../store/pack.js';
import { code, ioProblem, type Problem } from './common.js';

/** Which file a path was: a file replaced (renamed over, say) is another file. */
export interface Identity {
  dev: string;
  ino: string;
}

export interface ReadTask {
  /**
   * Files to read from `from` on. `expect`: the file the earlier pieces came from; if the path
   * now holds another one, the result says `replaced` and nothing of it is read. `known`: ids
   * of blobs the store already has (the file's chunks in the previous checkpoint): such a chunk
   * is hashed but not compressed, since the writer will not store it again (an edit inside a
   * large file would otherwise compress the whole file anew).
   */
  files: { abs: string; from: number; expect?: Identity; known?: string[] }[];
  /** Where the stored bytes go; at least `readCapacity(budget, sizes)` bytes, reused from task to task. */
  out: SharedArrayBuffer;
  sizes: ChunkSizes;
  compression: CompressionMode;
  /** Stop taking on files (or stop inside one, at a chunk boundary) once this many bytes are read. */
  budget: number;
  /** The store's id key, if its bank is encrypted: blob ids are HMACs under it. */
  idKey?: Uint8Array;
  /**
   * Where the task says early that its last file goes on (see `Continuation`): CONTINUATION_SLOTS
   * 64-bit slots, the first 0 until the task writes it.
   */
  continuation?: SharedArrayBuffer;
}

/**
 * The slots of `ReadTask.continuation`: [state, next, dev, ino, file]. `state` goes from 0 to
 * CONTINUES (the task's `file`th file goes on from `next`, and is the file `dev`/`ino`) or to
 * SETTLED (none does: wait for the result), and is notified (Atomics) once written.
 */
export const Continuation = { PENDING: 0n, CONTINUES: 1n, SETTLED: 2n } as const;
export const CONTINUATION_SLOTS = 5;

export interface ReadChunk {
  id: string;
  /** Where its stored bytes are in `out`. */
  at: number;
  length: number;
  rawLength: number;
  compression: Compression;
}

export interface ReadFile {
  /** Chunks of this file in this task: `chunks[first … first + count)`. */
  first: number;
  count: number;
  /** Bytes of the file read into those chunks. */
  bytes: number;
  /** The file's end was reached; otherwise continue it from `next` in another task. */
  done: boolean;
  next: number;
  /** The file as opened: what the manifest should say it was. */
  identity?: Identity & { mode: number; mtimeNs: string };
  /** Gone, or no longer a regular file (a link, a FIFO, a device), when it was to be opened. */
  vanished?: boolean;
  /** Another file than `expect` is at the path now: start it again from 0. */
  replaced?: boolean;
}

export interface ReadResult {
  /** The stored bytes of every chunk are back to back in the task's `out`. */
  chunks: ReadChunk[];
  /** One per file taken on, in task order; the task may stop before the last files. */
  files: ReadFile[];
  problem?: Problem;
}

/** Bytes asked for per read(2) (each task's room holds one more: kept small). */
const READ_SIZE = 1 * 1024 * 1024;

/** The room a read task needs: its budget, plus a chunk that overruns it, plus one read. */
export function readCapacity(budget: number, sizes: ChunkSizes): number {
  return budget + sizes.max + READ_SIZE;
}

/** Does nothing: run on a thread started early (pool.ts, `warmForReading`), it loads this code. */
export function readReady(): void {}

/**
 * Reads the files, cuts, hashes and encodes their chunks, and lays the stored bytes out back
 * to back in `out`. Bytes are read straight into that memory and cut there: an uncompressed
 * chunk is never copied. A file is opened without following a link, must be a regular file
 * once open, and is read through that one descriptor. A task stops taking on files once
 * `budget` bytes are read (inside a file, at a chunk boundary).
 */
export function read(task: ReadTask): ReadResult {
  const slots = task.continuation ? new BigInt64Array(task.continuation) : undefined;
  try {
    return readTask(task, slots);
  } finally {
    // Whatever happened, a main thread waiting for the continuation is woken.
    if (slots && Atomics.load(slots, 0) === Continuation.PENDING) publish(slots, Continuation.SETTLED);
  }
}

function publish(slots: BigInt64Array, state: bigint, next = 0, identity?: Identity, file = 0): void {
  if (identity) {
    // Unsigned: an inode number may use all 64 bits. (The state is signed: Atomics waits on those.)
    const values = new BigUint64Array(slots.buffer);
    values[1] = BigInt(next);
    values[2] = BigInt(identity.dev);
    values[3] = BigInt(identity.ino);
    values[4] = BigInt(file);
  }
  Atomics.store(slots, 0, state);
  Atomics.notify(slots, 0);
}

/** A chunk cut in phase one: where its raw bytes are in `out`. */
interface Cut {
  rawAt: number;
  rawLength: number;
  known: Set<string> | undefined;
}

function readTask(
  { files, out: shared, sizes, compression, budget, idKey }: ReadTask,
  slots: BigInt64Array | undefined,
): ReadResult {
  const capacity = readCapacity(budget, sizes);
  if (shared.byteLength < capacity) throw new RangeError(`read needs ${capacity} bytes of room`);
  const out = Buffer.from(shared);
  const cuts: Cut[] = [];
  const results: ReadFile[] = [];
  let problem: Problem | undefined;
  /** Phase one's end of the raw bytes kept in `out`: chunks lie back to back below it. */
  let end = 0;

  // Phase one: read and cut.
  for (const file of files) {
    if (end >= budget && results.length > 0) break;
    const first = cuts.length;
    const known = file.known && file.known.length > 0 ? new Set(file.known) : undefined;
    const skip = (why: 'vanished' | 'replaced') => {
      results.push({ first, count: 0, bytes: 0, done: true, next: file.from, [why]: true });
    };
    let fd: number;
    try {
      fd = openSync(file.abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      // Gone, or replaced by a link, since the walk: not this file any more.
      if (code(error) === 'ENOENT' || code(error) === 'ELOOP') {
        skip('vanished');
        continue;
      }
      problem = ioProblem(`cannot read ${file.abs}`, error);
      break;
    }
    try {
      const st = fstatSync(fd, { bigint: true });
      const identity = {
        dev: st.dev.toString(),
        ino: st.ino.toString(),
        mode: Number(st.mode & 0o7777n),
        mtimeNs: st.mtimeNs.toString(),
      };
      if (!st.isFile()) {
        skip('vanished');
        continue;
      }
      if (file.expect && (file.expect.dev !== identity.dev || file.expect.ino !== identity.ino)) {
        skip('replaced');
        continue;
      }
      let position = file.from;
      /** The bytes read but not yet cut: out[p, q). */
      let p = end;
      let q = end;
      let eof = false;
      for (;;) {
        while (!eof && q - p < sizes.max) {
          const n = readSync(fd, out, q, Math.min(READ_SIZE, capacity - q), position);
          if (n === 0) eof = true;
          position += n;
          q += n;
        }
        for (
          let length = cutLength(out, p, q, sizes, eof);
          length > 0;
          length = cutLength(out, p, q, sizes, eof)
        ) {
          cuts.push({ rawAt: p, rawLength: length, known });
          p += length;
        }
        const bytes = p - end;
        const count = cuts.length - first;
        if (eof && p === q) {
          results.push({ first, count, bytes, done: true, next: position, identity });
          break;
        }
        if (p >= budget) {
          // Out of room: the uncut bytes are read again by the piece that continues the file.
          results.push({ first, count, bytes, done: false, next: file.from + bytes, identity });
          break;
        }
      }
      end = p;
    } catch (error) {
      problem = ioProblem(`cannot read ${file.abs}`, error);
      break;
    } finally {
      closeSync(fd);
    }
    const last = results[results.length - 1]!;
    if (!last.done) {
      if (slots) publish(slots, Continuation.CONTINUES, last.next, last.identity, results.length - 1);
      break;
    }
  }
  if (slots && Atomics.load(slots, 0) === Continuation.PENDING) publish(slots, Continuation.SETTLED);
  if (problem) return { chunks: [], files: results, problem };

  // Phase two: hash and encode each chunk, moving the stored bytes down to close the gaps
  // compression leaves (a chunk's stored bytes never reach past its raw ones: no overlap with
  // chunks not yet encoded).
  const chunks: ReadChunk[] = [];
  let cursor = 0;
  for (const { rawAt, rawLength, known } of cuts) {
    const raw = out.subarray(rawAt, rawAt + rawLength);
    const id = blobId(raw, idKey);
    // A chunk the store has keeps its raw bytes: the writer deduplicates it (or, should the
    // store have lost it since, stores it uncompressed, which is still correct).
    const encoded = known?.has(id)
      ? { stored: raw, compression: 'none' as const }
      : encodeBlobSync(raw, compression, true); // copied into `out` below, at once
    if (encoded.compression !== 'none') out.set(encoded.stored, cursor);
    else if (cursor !== rawAt) out.copyWithin(cursor, rawAt, rawAt + rawLength);
    chunks.push({
      id,
      at: cursor,
      length: encoded.stored.length,
      rawLength,
      compression: encoded.compression,
    });
    cursor += encoded.stored.length;
  }
  return { chunks, files: results };
}
