/**
 * Modification times to the nanosecond, in a worker thread. Node's utimes and futimes take
 * seconds as a double (about 240 ns apart today) and libuv cuts them to microseconds, so
 * on Linux libc's futimens and utimensat are called through koffi, an FFI with prebuilt
 * binaries. Where that cannot be loaded (another system, a platform without a build), Node's
 * calls are used, exact to the microsecond. The access time is set to the modification time.
 */
import { closeSync, constants, fchmodSync, futimesSync, lutimesSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { asProblem, type Problem } from './common.js';

interface Native {
  futimens(fd: number, ns: bigint): number;
  /** Never follows a link in the last component. */
  lutimens(path: string, ns: bigint): number;
}

let native: Native | null | undefined;

/** libc's calls, or null when they cannot be reached. */
function load(): Native | null {
  if (native !== undefined) return native;
  native = null;
  if (process.platform !== 'linux' || process.env.HOARD_NO_NS_TIMES === '1') return native;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const libc = koffi.load('libc.so.6');
    koffi.struct('hoard_timespec', { tv_sec: 'int64_t', tv_nsec: 'long' });
    const futimens = libc.func('int futimens(int, const hoard_timespec *ts)');
    const utimensat = libc.func('int utimensat(int, const char *, const hoard_timespec *ts, int)');
    const AT_FDCWD = -100;
    const AT_SYMLINK_NOFOLLOW = 0x100;
    const times = (ns: bigint) => {
      const sec = ns / 1_000_000_000n - (ns % 1_000_000_000n < 0n ? 1n : 0n);
      const t = { tv_sec: sec, tv_nsec: Number(ns - sec * 1_000_000_000n) };
      return koffi.as([t, t], 'hoard_timespec *');
    };
    native = {
      futimens: (fd, ns) => futimens(fd, times(ns)) as number,
      lutimens: (path, ns) => utimensat(AT_FDCWD, path, times(ns), AT_SYMLINK_NOFOLLOW) as number,
    };
  } catch {
    native = null;
  }
  return native;
}

/** Whether times are set to the nanosecond here (else to the microsecond). */
export function nanosecondTimes(): boolean {
  return load() !== null;
}

/**
 * Seconds as a double that libuv turns into exactly the microsecond of `ns`: half a
 * microsecond more, so that its truncation lands on it whatever the double's rounding.
 */
function micro(ns: bigint): number {
  const us = ns / 1000n - (ns % 1000n < 0n ? 1n : 0n);
  const sec = us / 1_000_000n - (us % 1_000_000n < 0n ? 1n : 0n);
  return Number(sec) + (Number(us - sec * 1_000_000n) + 0.5) / 1e6;
}

/** Sets the open file's times to `mtimeNs` (nanoseconds since the epoch). */
export function setFileTimes(fd: number, mtimeNs: string): void {
  const ns = BigInt(mtimeNs);
  const lib = load();
  if (lib && lib.futimens(fd, ns) === 0) return;
  futimesSync(fd, micro(ns), micro(ns));
}

/** Sets the times of `path` itself, never of what a link there points to. */
export function setPathTimes(path: string, mtimeNs: string): void {
  const ns = BigInt(mtimeNs);
  const lib = load();
  if (lib && lib.lutimens(path, ns) === 0) return;
  lutimesSync(path, micro(ns), micro(ns));
}

export interface TimesTask {
  /** In order: a directory's times are set after what is in it. */
  /** `mode`: directories only (a link's mode means nothing on Linux). */
  items: { path: string; mtimeNs: string; mode?: number }[];
}

/**
 * Gives directories their modes and times and links their times, in order. Every item is tried; the
 * first problem is returned.
 */
export function times({ items }: TimesTask): { problem?: Problem } {
  let problem: Problem | undefined;
  for (const { path, mtimeNs, mode } of items) {
    try {
      if (mode !== undefined) chmodDir(path, mode);
      setPathTimes(path, mtimeNs);
    } catch (error) {
      problem ??= asProblem(error, `cannot set the mode and time of ${path}`);
    }
  }
  return problem ? { problem } : {};
}

/** chmod through a descriptor opened without following a link, so a link put there is refused. */
function chmodDir(path: string, mode: number): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_DIRECTORY);
  try {
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}
