/**
 * The file side of `fs.directory`, run in worker threads (pool.ts): walking the tree, reading
 * files into chunks and blobs, writing restored files, and checking blobs. Everything here
 * is synchronous on purpose: a worker thread blocks on one system call at a time, which costs
 * a few microseconds, where the same call made asynchronously from the main thread is a round
 * trip through libuv's thread pool and a promise — for 20 000 small files, most of the time.
 * Tasks answer with plain data; problems come back as `{code, message}` for the main thread
 * to raise, never as a thrown error (whose code would not survive the thread boundary).
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  futimesSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { type ErrorCode, HoardError } from '../../errors.js';
import { decodeBlobSync, encodeBlobSync } from '../../store/blob.js';
import { type ChunkSizes, cutLength } from '../../store/chunker.js';
import type { CompressionMode } from '../../store/options.js';
import type { Compression } from '../../store/pack.js';

export interface Problem {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------
// walk

export interface WalkTask {
  root: string;
  /** Directories to walk, relative to `root` ('' is the root itself). */
  dirs: string[];
  /** Levels below each of `dirs` to descend; subdirectories past that are returned in `deeper`. */
  depth: number;
  exclude: string[];
}

export interface WalkedEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeNs: string;
  size?: number;
  ino?: string;
  target?: string;
}

export interface WalkResult {
  /** What is under `dirs` (not the dirs themselves), each directory's names sorted. */
  entries: WalkedEntry[];
  /** Directories found at the depth limit, not walked: walk them next (in parallel). */
  deeper: string[];
  /** Paths that are neither file, directory nor link (sockets, FIFOs, devices), left out. */
  skipped: string[];
  problem?: Problem;
}

const matchers = new Map<string, (path: string) => boolean>();

/** Everything under `dirs`, down to `depth` levels, with one lstat per entry. */
export function walk({ root, dirs: start, depth, exclude }: WalkTask): WalkResult {
  const key = JSON.stringify(exclude);
  let excluded = matchers.get(key);
  if (excluded === undefined) {
    excluded = exclude.length ? picomatch(exclude, { dot: true }) : () => false;
    matchers.set(key, excluded);
  }
  const entries: WalkedEntry[] = [];
  const deeper: string[] = [];
  const skipped: string[] = [];
  const dirs = start.map((dir) => ({ dir, level: 1 }));
  while (dirs.length > 0) {
    const { dir: rel, level } = dirs.pop()!;
    let names: string[];
    try {
      names = readdirSync(rel ? join(root, rel) : root);
    } catch (error) {
      return { entries, deeper, skipped, problem: ioProblem(`cannot read ${join(root, rel)}`, error) };
    }
    names.sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      if (excluded(path)) continue;
      const abs = join(root, path);
      let st: import('node:fs').BigIntStats;
      try {
        st = lstatSync(abs, { bigint: true });
      } catch (error) {
        if (code(error) === 'ENOENT') continue; // gone since the directory was read
        return { entries, deeper, skipped, problem: ioProblem(`cannot read ${abs}`, error) };
      }
      const common = { path, mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs.toString() };
      if (st.isDirectory()) {
        entries.push({ ...common, type: 'dir' });
        if (level < depth) dirs.push({ dir: path, level: level + 1 });
        else deeper.push(path);
      } else if (st.isSymbolicLink()) {
        try {
          entries.push({ ...common, type: 'symlink', target: readlinkSync(abs) });
        } catch (error) {
          if (code(error) === 'ENOENT') continue;
          return { entries, deeper, skipped, problem: ioProblem(`cannot read the link ${abs}`, error) };
        }
      } else if (st.isFile()) {
        entries.push({ ...common, type: 'file', size: Number(st.size), ino: st.ino.toString() });
      } else {
        skipped.push(path);
      }
    }
  }
  return { entries, deeper, skipped };
}

// ---------------------------------------------------------------------------------------
// read: files into encoded blobs

export interface ReadTask {
  files: { abs: string; from: number }[];
  /** Where the stored bytes go; at least `readCapacity(budget, sizes)` bytes, reused from task to task. */
  out: SharedArrayBuffer;
  sizes: ChunkSizes;
  compression: CompressionMode;
  /** Stop taking on files (or stop inside one, at a chunk boundary) once this many bytes are out. */
  budget: number;
}

export interface ReadChunk {
  id: string;
  /** Where its stored bytes are in `bytes`. */
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
  /** The file disappeared (or turned into something else) before it could be opened. */
  vanished?: boolean;
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
 * Reads files, cuts them into chunks (FastCDC, the store's sizes), hashes and encodes each, and
 * lays the stored bytes out back to back in shared memory for the main thread to put in packs.
 * Bytes are read straight into that memory and cut there: an uncompressed chunk is never copied.
 */
export function read({ files, out: shared, sizes, compression, budget }: ReadTask): ReadResult {
  const capacity = readCapacity(budget, sizes);
  if (shared.byteLength < capacity) throw new RangeError(`read needs ${capacity} bytes of room`);
  const out = Buffer.from(shared);
  const chunks: ReadChunk[] = [];
  const done: ReadFile[] = [];
  let cursor = 0;
  for (const file of files) {
    if (cursor >= budget && done.length > 0) break;
    const first = chunks.length;
    let fd: number;
    try {
      fd = openSync(file.abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      // Gone, or replaced by a link, since the walk: not this file any more.
      if (code(error) === 'ENOENT' || code(error) === 'ELOOP') {
        done.push({ first, count: 0, bytes: 0, done: true, next: file.from, vanished: true });
        continue;
      }
      return { chunks, files: done, problem: ioProblem(`cannot read ${file.abs}`, error) };
    }
    try {
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
          const id = createHash('sha256').update(raw).digest('hex');
          const encoded = encodeBlobSync(raw, compression);
          if (encoded.compression === 'deflate') out.set(encoded.stored, cursor);
          else if (cursor !== p) out.copyWithin(cursor, p, p + length);
          chunks.push({
            id,
            at: cursor,
            length: encoded.stored.length,
            rawLength: length,
            compression: encoded.compression,
          });
          cursor += encoded.stored.length;
          p += length;
        }
        if (cursor !== p) {
          // Compression left a gap: close it so the next read lands after the stored bytes.
          out.copyWithin(cursor, p, q);
          q -= p - cursor;
          p = cursor;
        }
        const bytes = position - file.from - (q - p);
        if (eof && p === q) {
          done.push({ first, count: chunks.length - first, bytes, done: true, next: position });
          break;
        }
        if (cursor >= budget) {
          // Out of room: the uncut bytes are read again by the task that continues the file.
          done.push({ first, count: chunks.length - first, bytes, done: false, next: file.from + bytes });
          break;
        }
      }
    } catch (error) {
      return { chunks, files: done, problem: ioProblem(`cannot read ${file.abs}`, error) };
    } finally {
      closeSync(fd);
    }
    if (!done[done.length - 1]!.done) break;
  }
  return { chunks, files: done };
}

// ---------------------------------------------------------------------------------------
// restore: blobs into files

export interface RestoreFile {
  /** Index of the file in the restore (for `remaining`). */
  index: number;
  /** The file is written here, then renamed to `path` once complete. */
  temp: string;
  path: string;
  mode: number;
  /** Modification time in seconds (fractional). */
  mtime: number;
}

export interface RestoreTask {
  /** Stored bytes of the blobs (a batch from the content store). */
  bytes: Uint8Array;
  blobs: {
    id: string;
    pack: string;
    offset: number;
    at: number;
    length: number;
    rawLength: number;
    compression: Compression;
  }[];
  /** For blob k, `targets[k]` = [file index, offset in the file, …]. */
  targets: number[][];
  /** The files this task writes into, by index. */
  files: Record<number, RestoreFile>;
  /** Per file, blob writes still to do; whoever does the last one finishes the file. */
  remaining: Int32Array;
  overwrite: boolean;
}

export interface RestoreResult {
  bytes: number;
  /** Indexes of the files this task finished (renamed into place). */
  finished: number[];
  problem?: Problem;
}

/** Flags for a file being restored: created if missing, never through a link. */
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;

/**
 * Decodes and checks each blob once, writes it at its offsets into the files that hold it, and
 * finishes (mode, mtime, rename into place) each file whose last write this was. Files are
 * written under temporary names in their own directory, so nothing half-written ever has a
 * restored file's name, and a link planted at a file's name is replaced, never followed.
 */
export function restore(task: RestoreTask): RestoreResult {
  const { bytes, blobs, targets, files, remaining, overwrite } = task;
  const open = new Map<number, number>();
  const finished: number[] = [];
  let written = 0;
  try {
    for (let k = 0; k < blobs.length; k++) {
      const blob = blobs[k]!;
      const raw = decodeBlobSync(blob, bytes.subarray(blob.at, blob.at + blob.length));
      const places = targets[k]!;
      for (let t = 0; t < places.length; t += 2) {
        const index = places[t]!;
        const file = files[index]!;
        let fd = open.get(index);
        if (fd === undefined) {
          fd = openSync(file.temp, WRITE_FLAGS, 0o600);
          open.set(index, fd);
        }
        writeAll(fd, raw, places[t + 1]!);
        written += raw.length;
        if (Atomics.sub(remaining, index, 1) === 1) {
          open.delete(index);
          finish(fd, file, overwrite);
          finished.push(index);
        }
      }
    }
  } catch (error) {
    return { bytes: written, finished, problem: asProblem(error) };
  } finally {
    for (const fd of open.values()) closeSync(fd);
  }
  return { bytes: written, finished };
}

/** Creates and finishes files that have no content. */
export function restoreEmpty({
  files,
  overwrite,
}: {
  files: RestoreFile[];
  overwrite: boolean;
}): RestoreResult {
  const finished: number[] = [];
  try {
    for (const file of files) {
      finish(openSync(file.temp, WRITE_FLAGS, 0o600), file, overwrite);
      finished.push(file.index);
    }
  } catch (error) {
    return { bytes: 0, finished, problem: asProblem(error) };
  }
  return { bytes: 0, finished };
}

/** Sets the file's mode and times through its descriptor, closes it and renames it into place. */
function finish(fd: number, file: RestoreFile, overwrite: boolean): void {
  try {
    fchmodSync(fd, file.mode);
    futimesSync(fd, file.mtime, file.mtime);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(file.temp, file.path);
  } catch (error) {
    // A directory in the way (only when overwriting: otherwise the target was empty).
    if (!overwrite || !['EISDIR', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR'].includes(code(error) ?? '')) throw error;
    rmSync(file.path, { recursive: true, force: true });
    renameSync(file.temp, file.path);
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at, position + at);
}

// ---------------------------------------------------------------------------------------
// check: verify blobs

export interface CheckTask {
  bytes: Uint8Array;
  blobs: RestoreTask['blobs'];
}

/** Decodes and re-hashes each blob; the damaged ones, with why. */
export function check({ bytes, blobs }: CheckTask): { damaged: { id: string; message: string }[] } {
  const damaged: { id: string; message: string }[] = [];
  for (const blob of blobs) {
    try {
      decodeBlobSync(blob, bytes.subarray(blob.at, blob.at + blob.length));
    } catch (error) {
      damaged.push({ id: blob.id, message: (error as Error).message });
    }
  }
  return { damaged };
}

// ---------------------------------------------------------------------------------------

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function ioProblem(what: string, error: unknown): Problem {
  return { code: 'HOOK_FAILED', message: `${what}: ${code(error) ?? (error as Error).message}` };
}

function asProblem(error: unknown): Problem {
  if (error instanceof HoardError) {
    return { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
  }
  const path = (error as NodeJS.ErrnoException | undefined)?.path;
  return {
    code: 'HOOK_FAILED',
    message: `${path ? `${path}: ` : ''}${code(error) ?? (error as Error).message}`,
  };
}
