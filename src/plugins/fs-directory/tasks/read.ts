/**
 * Protect, in a worker thread: files read into shared memory, cut there into chunks (FastCDC,
 * the store's sizes), each hashed and encoded in place, for the main thread to put in packs.
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
  /**
   * Stop taking on files (or stop inside one, at a chunk boundary) once this many stored bytes
   * are out, or four times as many bytes have been read (data that compresses very well).
   */
  budget: number;
  /** The store's id key, if its bank is encrypted: blob ids are HMACs under it. */
  idKey?: Uint8Array;
}

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

/** Bytes asked for per read(2). */
const READ_SIZE = 4 * 1024 * 1024;

/** The room a read task needs: its budget, plus a chunk that overruns it, plus one read. */
export function readCapacity(budget: number, sizes: ChunkSizes): number {
  return budget + sizes.max + READ_SIZE;
}

/**
 * Reads the files, cuts, hashes and encodes their chunks, and lays the stored bytes out back
 * to back in `out`. Bytes are read straight into that memory and cut there: an uncompressed
 * chunk is never copied. A file is opened without following a link, must be a regular file
 * once open, and is read through that one descriptor.
 */
export function read({ files, out: shared, sizes, compression, budget, idKey }: ReadTask): ReadResult {
  const capacity = readCapacity(budget, sizes);
  if (shared.byteLength < capacity) throw new RangeError(`read needs ${capacity} bytes of room`);
  const out = Buffer.from(shared);
  const chunks: ReadChunk[] = [];
  const results: ReadFile[] = [];
  let cursor = 0;
  let taken = 0;
  const full = () => cursor >= budget || taken >= 4 * budget;
  for (const file of files) {
    if (full() && results.length > 0) break;
    const first = chunks.length;
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
      return { chunks, files: results, problem: ioProblem(`cannot read ${file.abs}`, error) };
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
      /** The bytes read but not yet cut: out[p, q); p is always `cursor` between reads. */
      let p = cursor;
      let q = cursor;
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
          const raw = out.subarray(p, p + length);
          const id = blobId(raw, idKey);
          // A chunk the store has keeps its raw bytes: the writer deduplicates it (or, should the
          // store have lost it since, stores it uncompressed, which is still correct).
          const encoded = known?.has(id)
            ? { stored: raw, compression: 'none' as const }
            : encodeBlobSync(raw, compression);
          if (encoded.compression !== 'none') out.set(encoded.stored, cursor);
          else if (cursor !== p) out.copyWithin(cursor, p, p + length);
          chunks.push({
            id,
            at: cursor,
            length: encoded.stored.length,
            rawLength: length,
            compression: encoded.compression,
          });
          cursor += encoded.stored.length;
          taken += length;
          p += length;
        }
        if (cursor !== p) {
          // Compression left a gap: close it so the next read lands after the stored bytes.
          out.copyWithin(cursor, p, q);
          q -= p - cursor;
          p = cursor;
        }
        const bytes = position - file.from - (q - p);
        const count = chunks.length - first;
        if (eof && p === q) {
          results.push({ first, count, bytes, done: true, next: position, identity });
          break;
        }
        if (full()) {
          // Out of room: the uncut bytes are read again by the task that continues the file.
          results.push({ first, count, bytes, done: false, next: file.from + bytes, identity });
          break;
        }
      }
    } catch (error) {
      return { chunks, files: results, problem: ioProblem(`cannot read ${file.abs}`, error) };
    } finally {
      closeSync(fd);
    }
    if (!results[results.length - 1]!.done) break;
  }
  return { chunks, files: results };
}
