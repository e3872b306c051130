/**
 * Restore, in a worker thread: each blob of a batch decoded and checked once, then written at
 * its offsets into every file that holds it. Several threads may write one file (its blobs
 * come in different batches): the first to need it creates it, exclusively, and records which
 * file it is; the others open it and check it is that file; whoever does its last write
 * finishes it (mode, mtime, name). A damaged blob is reported and the batch goes on: the files
 * that hold it are marked damaged, are written no further and never finish.
 */
import {
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { HoardError } from '../../../errors.js';
import type { BatchBlob } from '../../../store/batches.js';
import { decodeBlobSync } from '../../../store/blob.js';
import { asProblem, code, type DamagedBlob, type Problem } from './common.js';
import { setFileTimes } from './times.js';

export interface RestoreFile {
  /** Index of the file in the restore (for the shared arrays). */
  index: number;
  /** The file is written here, then given the name `path` once complete. */
  temp: string;
  path: string;
  mode: number;
  /** Modification time, nanoseconds since the epoch (decimal). */
  mtimeNs: string;
}

/** Per-file state all the threads of one restore share. */
export interface SharedFiles {
  /** Blob writes still to do; whoever does the last one finishes the file. */
  remaining: Int32Array;
  /** 0 not made, 1 being made, 2 made, 3 could not be made. */
  state: Int32Array;
  /** Device and inode of the temporary file once made: [dev, ino] per file. */
  identity: BigInt64Array;
  /** 1 once the file is known to need a damaged blob: nothing more is written into it. */
  damaged: Int32Array;
}

export interface RestoreTask {
  /** Stored bytes of the blobs (a batch from the content store). */
  bytes: Uint8Array;
  blobs: BatchBlob[];
  /** For blob k, `targets[k]` = [file index, offset in the file, …]. */
  targets: number[][];
  /** The files this task writes into, by index. */
  files: Record<number, RestoreFile>;
  shared: SharedFiles;
  overwrite: boolean;
  /** The store's id key, if its bank is encrypted. */
  idKey?: Uint8Array;
}

export interface RestoreResult {
  bytes: number;
  /** Indexes of the files this task finished (given their names). */
  finished: number[];
  /** Blobs of the batch that failed their check (their files are marked in `shared.damaged`). */
  damaged: DamagedBlob[];
  problem?: Problem;
}

/** Descriptors one task keeps open at most (least recently used closed first). */
const OPEN_FILES = 32;
const NOT_MADE = 0;
const MAKING = 1;
const MADE = 2;
const FAILED = 3;

export function restore(task: RestoreTask): RestoreResult {
  const { bytes, blobs, targets, files, shared, overwrite, idKey } = task;
  /** File index → descriptor, least recently used first. */
  const open = new Map<number, number>();
  const finished: number[] = [];
  const damaged: DamagedBlob[] = [];
  let written = 0;
  let current: RestoreFile | undefined;
  try {
    for (let k = 0; k < blobs.length; k++) {
      const blob = blobs[k]!;
      const places = targets[k]!;
      current = undefined;
      let raw: Uint8Array;
      try {
        raw = decodeBlobSync(blob, bytes.subarray(blob.at, blob.at + blob.length), idKey, true);
      } catch (error) {
        if (!(error instanceof HoardError && error.code === 'STORE_CORRUPT')) throw error;
        damaged.push({ id: blob.id, pack: blob.pack, problem: error.message });
        for (let t = 0; t < places.length; t += 2) Atomics.store(shared.damaged, places[t]!, 1);
        continue;
      }
      for (let t = 0; t < places.length; t += 2) {
        const index = places[t]!;
        if (Atomics.load(shared.damaged, index) === 1) continue;
        const file = files[index]!;
        current = file;
        let fd = open.get(index);
        if (fd === undefined) {
          fd = openTemp(file, shared);
          if (open.size >= OPEN_FILES) {
            const [oldest, oldFd] = open.entries().next().value as [number, number];
            open.delete(oldest);
            closeSync(oldFd);
          }
        } else {
          open.delete(index);
        }
        open.set(index, fd);
        writeAll(fd, raw, places[t + 1]!);
        written += raw.length;
        if (Atomics.sub(shared.remaining, index, 1) === 1) {
          open.delete(index);
          finish(fd, file, overwrite);
          finished.push(index);
        }
      }
    }
  } catch (error) {
    return {
      bytes: written,
      finished,
      damaged,
      problem: asProblem(error, current && `cannot restore ${current.path}`),
    };
  } finally {
    for (const fd of open.values()) closeSync(fd);
  }
  return { bytes: written, finished, damaged };
}

/** Makes and finishes files that have no content. */
export function restoreEmpty({
  files,
  shared,
  overwrite,
}: {
  files: RestoreFile[];
  shared: SharedFiles;
  overwrite: boolean;
}): RestoreResult {
  const finished: number[] = [];
  let current: RestoreFile | undefined;
  try {
    for (const file of files) {
      current = file;
      finish(openTemp(file, shared), file, overwrite);
      finished.push(file.index);
    }
  } catch (error) {
    return {
      bytes: 0,
      finished,
      damaged: [],
      problem: asProblem(error, current && `cannot restore ${current.path}`),
    };
  }
  return { bytes: 0, finished, damaged: [] };
}

/**
 * A descriptor for writing the file's temporary. The first thread to need it creates it
 * (O_EXCL: never a file, link or FIFO someone put there) and records its device and inode;
 * the others wait for that, open it (never through a link, never blocking on a FIFO) and
 * check it is the same file, so nothing planted at that name is ever written.
 */
function openTemp(file: RestoreFile, shared: SharedFiles): number {
  const { state, identity } = shared;
  const i = file.index;
  if (Atomics.compareExchange(state, i, NOT_MADE, MAKING) === NOT_MADE) {
    try {
      const fd = openSync(
        file.temp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      const st = fstatSync(fd, { bigint: true });
      Atomics.store(identity, 2 * i, st.dev);
      Atomics.store(identity, 2 * i + 1, st.ino);
      Atomics.store(state, i, MADE);
      return fd;
    } catch (error) {
      Atomics.store(state, i, FAILED);
      throw error;
    } finally {
      Atomics.notify(state, i);
    }
  }
  while (Atomics.load(state, i) === MAKING) Atomics.wait(state, i, MAKING, 1000);
  if (Atomics.load(state, i) !== MADE) {
    throw new HoardError('HOOK_FAILED', `cannot restore ${file.path}: its temporary file could not be made`);
  }
  const fd = openSync(file.temp, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  const st = fstatSync(fd, { bigint: true });
  if (
    !st.isFile() ||
    st.dev !== Atomics.load(identity, 2 * i) ||
    st.ino !== Atomics.load(identity, 2 * i + 1)
  ) {
    closeSync(fd);
    throw new HoardError(
      'HOOK_FAILED',
      `cannot restore ${file.path}: its temporary file ${file.temp} was replaced during the restore`,
    );
  }
  return fd;
}

/**
 * Sets the file's mode and times through its descriptor, closes it and gives it its name:
 * with `overwrite` by rename (replacing what is there; a directory in the way is removed),
 * otherwise by link and unlink, so a file that appeared at that name meanwhile is refused,
 * never replaced.
 */
function finish(fd: number, file: RestoreFile, overwrite: boolean): void {
  try {
    fchmodSync(fd, file.mode);
    setFileTimes(fd, file.mtimeNs);
  } finally {
    closeSync(fd);
  }
  if (!overwrite) {
    try {
      linkSync(file.temp, file.path);
      unlinkSync(file.temp);
      return;
    } catch (error) {
      if (code(error) === 'EEXIST') throw appeared(file);
      // Filesystems without hard links: check once more, then rename.
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'EXDEV'].includes(code(error) ?? '')) throw error;
      if (lstatOrUndefined(file.path)) throw appeared(file);
    }
  }
  replace(file, overwrite);
}

/** Renames the temporary to the file's name; with `overwrite`, a directory in the way is removed. */
function replace(file: RestoreFile, overwrite: boolean): void {
  try {
    renameSync(file.temp, file.path);
  } catch (error) {
    if (!overwrite || !['EISDIR', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR'].includes(code(error) ?? '')) throw error;
    rmSync(file.path, { recursive: true, force: true });
    renameSync(file.temp, file.path);
  }
}

/** Errors of a filesystem that has no hard links (or none across these names). */
const NO_LINKS = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'EXDEV'];

export interface LinkFile extends RestoreFile {
  /** The restored file this one is a hard link to. */
  from: string;
}

export interface LinkResult {
  /** Paths made, as links or (where the filesystem has no hard links) as copies. */
  done: number;
  copied: number;
  problem?: Problem;
}

/**
 * Makes each file a hard link to its restored first path: without `overwrite` by link (a file
 * that is there already is refused), with it by link to the temporary name and rename. Where
 * the filesystem refuses hard links, the file is a copy, finished like any other.
 */
export function restoreLinks({ files, overwrite }: { files: LinkFile[]; overwrite: boolean }): LinkResult {
  let done = 0;
  let copied = 0;
  let current: LinkFile | undefined;
  try {
    for (const file of files) {
      current = file;
      try {
        linkSync(file.from, overwrite ? file.temp : file.path);
      } catch (error) {
        if (!overwrite && code(error) === 'EEXIST') throw appeared(file);
        if (!NO_LINKS.includes(code(error) ?? '')) throw error;
        copyFileSync(file.from, file.temp, constants.COPYFILE_EXCL);
        finish(openSync(file.temp, constants.O_WRONLY | constants.O_NOFOLLOW), file, overwrite);
        copied++;
        done++;
        continue;
      }
      if (overwrite) {
        try {
          replace(file, overwrite);
        } catch (error) {
          rmSync(file.temp, { force: true });
          throw error;
        }
      }
      done++;
    }
  } catch (error) {
    return { done, copied, problem: asProblem(error, current && `cannot restore ${current.path}`) };
  }
  return { done, copied };
}

function appeared(file: RestoreFile): HoardError {
  return new HoardError(
    'HOOK_FAILED',
    `${file.path} appeared while restoring; pass --overwrite (API: "overwrite": true) to replace it`,
    { details: { path: file.path } },
  );
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch (error) {
    if (code(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at, position + at);
}
