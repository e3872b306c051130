/**
 * The walk, in a worker thread: directories read and entries lstat'ed with synchronous calls
 * (a few microseconds each here, against a round trip through libuv's pool from the main thread).
 */
import type { BigIntStats } from 'node:fs';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type Excluder, excluder } from '../exclude.js';
import { code, ioProblem, type Problem } from './common.js';

export interface WalkTask {
  root: string;
  /** Directories to walk, relative to `root` ('' is the root itself). */
  dirs: string[];
  /** Levels below each of `dirs` to descend; subdirectories past that are returned in `deeper`. */
  depth: number;
  /** `.gitignore`-style patterns (exclude.ts). */
  exclude: string[];
}

export interface WalkedEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeNs: string;
  size?: number;
  ino?: string;
  /** Files with more than one link: `dev:ino`, the same for every path of the file. */
  linkKey?: string;
  target?: string;
}

export interface WalkResult {
  /** What is under `dirs` (not the dirs themselves), each directory's names sorted. */
  entries: WalkedEntry[];
  /** Directories found at the depth limit, not walked: walk them next (in parallel). */
  deeper: string[];
  /** Paths that are neither file, directory nor link (sockets, FIFOs, devices), left out. */
  skipped: string[];
  /**
   * Entries lstat'ed, and the walk's milliseconds on a core and blocked (waiting on the disk,
   * not for a core): how fast this tree's disk answers. See threadTimes.
   */
  statted: number;
  cpuMs: number;
  blockedMs: number;
  problem?: Problem;
}

/**
 * This thread's clock: wall time, and from Linux's /proc/thread-self/schedstat the nanoseconds
 * it ran on a core and waited for one, so that a walk on a busy machine (waiting for a core) is
 * not taken for a slow disk. Elsewhere all the time counts as both.
 */
function threadTimes(): { wall: number; cpu?: number; queued?: number } {
  const wall = performance.now();
  try {
    const [cpu, queued] = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ').map(Number);
    if (Number.isFinite(cpu) && Number.isFinite(queued))
      return { wall, cpu: cpu! / 1e6, queued: queued! / 1e6 };
  } catch {}
  return { wall };
}

function since(start: ReturnType<typeof threadTimes>): { cpuMs: number; blockedMs: number } {
  const now = threadTimes();
  const wall = now.wall - start.wall;
  if (start.cpu === undefined || now.cpu === undefined) return { cpuMs: wall, blockedMs: wall };
  const cpuMs = now.cpu - start.cpu;
  return { cpuMs, blockedMs: Math.max(0, wall - cpuMs - (now.queued! - start.queued!)) };
}

/** Compiled exclude patterns, a few kept for the next walk of the same tree. */
const matchers = new Map<string, Excluder>();

/** Everything under `dirs`, down to `depth` levels, with one lstat per entry. */
export function walk({ root, dirs: start, depth, exclude }: WalkTask): WalkResult {
  const key = JSON.stringify(exclude);
  let excluded = matchers.get(key);
  if (excluded === undefined) {
    excluded = excluder(exclude);
    if (matchers.size >= 16) matchers.clear();
    matchers.set(key, excluded);
  }
  const started = threadTimes();
  const entries: WalkedEntry[] = [];
  const deeper: string[] = [];
  const skipped: string[] = [];
  let statted = 0;
  const result = (problem?: Problem): WalkResult => ({
    entries,
    deeper,
    skipped,
    statted,
    ...since(started),
    ...(problem ? { problem } : {}),
  });
  // Paths by concatenation, not path.join: `root` is absolute and normalized (snapshot.ts
  // resolves it) and names are single segments, so join's normalizing would change nothing.
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const dirs = start.map((dir) => ({ dir, level: 1 }));
  while (dirs.length > 0) {
    const { dir: rel, level } = dirs.pop()!;
    let names: string[];
    try {
      names = readdirSync(rel ? prefix + rel : root);
    } catch (error) {
      return result(ioProblem(`cannot read ${join(root, rel)}`, error));
    }
    names.sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const abs = prefix + path;
      let st: BigIntStats;
      statted++;
      try {
        st = lstatSync(abs, { bigint: true });
      } catch (error) {
        if (code(error) === 'ENOENT') continue; // gone since the directory was read
        return result(ioProblem(`cannot read ${abs}`, error));
      }
      const isDir = st.isDirectory();
      // After the lstat: a `dir/` pattern needs to know what the entry is.
      if (excluded(path, isDir)) continue;
      const mode = Number(st.mode) & 0o7777;
      const mtimeNs = st.mtimeNs.toString();
      if (isDir) {
        entries.push({ path, mode, mtimeNs, type: 'dir' });
        if (level < depth) dirs.push({ dir: path, level: level + 1 });
        else deeper.push(path);
      } else if (st.isSymbolicLink()) {
        try {
          entries.push({ path, mode, mtimeNs, type: 'symlink', target: readlinkSync(abs) });
        } catch (error) {
          if (code(error) === 'ENOENT') continue;
          return result(ioProblem(`cannot read the link ${abs}`, error));
        }
      } else if (st.isFile()) {
        const ino = st.ino.toString();
        const entry: WalkedEntry = { path, mode, mtimeNs, type: 'file', size: Number(st.size), ino };
        if (st.nlink > 1n) entry.linkKey = `${st.dev}:${ino}`;
        entries.push(entry);
      } else {
        skipped.push(path);
      }
    }
  }
  return result();
}
