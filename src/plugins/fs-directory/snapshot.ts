/**
 * Protect: walk the tree, store the content of new or changed files in the content store,
 * and write the manifest. A file whose size, mtime and inode match the previous checkpoint
 * of the plan is not read again: its blobs are reused. The file work (walking, reading,
 * cutting, hashing, compressing) runs in worker threads (worker.ts); this thread decides
 * what to read and puts the blobs in packs.
 */
import { lstat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HoardError } from '../../errors.js';
import { chunkSizes } from '../../store/chunker.js';
import type { HookContext } from '../sdk.js';
import { type Entry, INFO, PreviousManifest, type RootDir, writeManifest } from './manifest.js';
import { poolThreads, raise, run, warmForReading } from './pool.js';
import type { Identity } from './tasks/read.js';
import {
  CONTINUATION_SLOTS,
  Continuation,
  type ReadResult,
  readCapacity,
  type WalkResult,
} from './worker.js';

export interface SnapshotStats {
  files: number;
  dirs: number;
  symlinks: number;
  skipped: number;
  bytes: number;
  /** Bytes read from files that changed since the previous checkpoint. */
  bytesRead: number;
  /** Bytes of new blobs written to the store (before compression). */
  bytesNew: number;
  /** Bytes of the packs those blobs went into (compressed, with the packs' framing). */
  bytesStored: number;
  filesReused: number;
  /** Files that are hard links to an earlier file of the tree (counted in `files` too). */
  hardLinks: number;
}

/**
 * Bytes of blobs a read task lays out before it stops (a file may overrun it by one chunk).
 * Each task in flight holds `readCapacity(TASK_BYTES)` of shared memory: 4 MiB (9 MiB of
 * room at 1 MiB chunks) measured as fast as 8 MiB and saves ~30 MiB of peak memory.
 */
const TASK_BYTES = 4 * 1024 * 1024;
/** Files a read task takes on at most. */
const TASK_FILES = 512;

/**
 * Protects the tree at `root`. `concurrency` is the number of read tasks in flight (each
 * a worker thread reading up to TASK_BYTES of files).
 */
export async function snapshot(
  ctx: HookContext,
  root: string,
  exclude: string[],
  concurrency: number,
): Promise<SnapshotStats> {
  const where = `${ctx.resource.type}#${ctx.resource.id}`;
  const base = resolve(root);
  const rootStat = await lstat(base, { bigint: true }).catch((error: NodeJS.ErrnoException) => {
    throw new HoardError('HOOK_FAILED', `${where}: cannot read ${base}: ${error.code ?? error.message}`, {
      cause: error,
    });
  });
  if (!rootStat.isDirectory()) {
    throw new HoardError('HOOK_FAILED', `${where}: ${base} is not a directory`);
  }
  // The walk reads only the tree: it starts (and the pool's threads with it) while the writer's
  // lease is taken. Caught here so that it is never an unhandled rejection; awaited below.
  const walking = walkTree(base, exclude, where, ctx.signal);
  walking.catch(() => {});
  // The writer's lease keeps a prune away from here on, so blobs reused from the previous
  // checkpoint cannot disappear before this checkpoint refers to them.
  const writer = await ctx.store.openWriter(`${ctx.checkpoint.id} ${where}`, { signal: ctx.signal });
  try {
    return await walkAndStore();
  } catch (error) {
    await writer.abort().catch(() => {});
    throw error;
  }

  async function walkAndStore(): Promise<SnapshotStats> {
    // The previous manifest is parsed, and which of its blobs the store has looked up, while
    // the walk runs (this thread waits on it otherwise); both after the writer's lease is taken.
    const [{ previous, known }, walked] = await Promise.all([previousEntries(ctx).then(withKnown), walking]);
    const stats: SnapshotStats = {
      files: 0,
      dirs: 0,
      symlinks: 0,
      skipped: 0,
      bytes: 0,
      bytesRead: 0,
      bytesNew: 0,
      bytesStored: 0,
      filesReused: 0,
      hardLinks: 0,
    };

    // Pass 1 (above): walk and stat everything, so progress has a known total.
    for (const path of walked.skipped) ctx.log(`skipped ${path}: not a file, directory or symbolic link`);
    stats.skipped = walked.skipped.length;
    // In path order: files read one after the other share packs, which a restore reads once.
    const entries: Entry[] = walked.entries.sort(byPath);
    // Hard links: the first path of each file (in path order) is read; the others link to it.
    const firstOf = new Map<string, Entry>();
    /** First path → the other paths of the same file, and the file (dev:ino) as walked. */
    const groups = new Map<Entry, { key: string; others: Entry[] }>();
    for (const entry of entries) {
      const key = walked.linkKeys.get(entry);
      if (key === undefined) continue;
      const first = firstOf.get(key);
      if (first === undefined) firstOf.set(key, entry);
      else {
        const group = groups.get(first) ?? { key, others: [] };
        groups.set(first, group);
        group.others.push(entry);
        entry.hardLink = first.path;
      }
    }
    /** The first path changed into another file (or vanished) while read: read the others alone. */
    const split = (first: Entry) => {
      for (const other of groups.get(first)?.others ?? []) {
        delete other.hardLink;
        other.blobs = [];
        queue.push([{ entry: other, abs: join(base, other.path), from: 0, restarts: 0 }]);
      }
      groups.delete(first);
    };
    /** Unchanged files whose line in the previous manifest goes into this one as it is. */
    const lines = new Map<Entry, string>();
    const toRead: { entry: Entry; abs: string; known?: string[] }[] = [];
    for (const entry of entries) {
      if (entry.hardLink !== undefined) continue; // takes its first path's content below
      if (entry.type === 'dir') stats.dirs++;
      else if (entry.type === 'symlink') stats.symlinks++;
      else {
        const before = previous.get(entry.path);
        if (
          before?.type === 'file' &&
          before.size === entry.size &&
          before.mtimeNs === entry.mtimeNs &&
          before.ino === entry.ino &&
          (before.blobs ?? []).every((id) => known.has(id))
        ) {
          entry.blobs = before.blobs ?? [];
          stats.filesReused++;
          const line = previous.line(before);
          if (line !== undefined && before.mode === entry.mode) lines.set(entry, line);
        } else {
          entry.blobs = [];
          // A changed file mostly keeps its chunks: the reader need not compress those again.
          const kept = before?.type === 'file' ? (before.blobs ?? []).filter((id) => known.has(id)) : [];
          toRead.push({ entry, abs: join(base, entry.path), ...(kept.length > 0 ? { known: kept } : {}) });
        }
      }
    }

    // Pass 2: the changed files, a few read tasks at a time; their blobs go into packs in
    // task order, so a pack holds neighbouring files (a restore reads it once).
    const total = toRead.reduce((n, f) => n + f.entry.size!, 0);
    if (total > TASK_BYTES) warmForReading(Math.ceil(total / TASK_BYTES));
    const readingSince = Date.now();
    let filesRead = 0;
    const vanished = new Set<Entry>();
    const queue = tasks(toRead);
    const pending: InFlight[] = [];
    const { averageChunkSize, compression, gear, idKey } = await ctx.store.encoding();
    const sizes = chunkSizes(averageChunkSize, gear);
    // Each task lays its blobs out in one of these; it comes back here once they are in packs.
    const room: SharedArrayBuffer[] = [];
    try {
      while (queue.length > 0 || pending.length > 0) {
        while (queue.length > 0 && pending.length < concurrency) {
          ctx.signal.throwIfAborted();
          const item = queue.shift()!;
          const files = item.map((f) => ({
            abs: f.abs,
            from: f.from,
            ...(f.expect ? { expect: f.expect } : {}),
            ...(f.known ? { known: f.known } : {}),
          }));
          const out = room.pop() ?? new SharedArrayBuffer(readCapacity(TASK_BYTES, sizes));
          const continuation = new SharedArrayBuffer(8 * CONTINUATION_SLOTS);
          const done = run('read', {
            files,
            out,
            sizes,
            compression,
            budget: TASK_BYTES,
            continuation,
            ...(idKey ? { idKey } : {}),
          });
          const slots = new BigInt64Array(continuation);
          pending.push({ item, done, out, slots, said: whenSaid(slots), continued: false });
        }
        // A task whose last file goes on says where as soon as it has cut its piece: the next
        // piece starts on another thread while this one still hashes and compresses.
        const head = pending[0]!;
        const listening = pending.filter((task) => task.said !== undefined);
        const woke = await Promise.race([
          head.done.then(() => undefined),
          ...listening.map((task) => task.said!.then(() => task)),
        ]);
        if (woke !== undefined) {
          woke.said = undefined;
          const next = continuationOf(woke);
          if (next !== undefined) {
            queue.unshift([next]);
            woke.continued = true;
          }
          continue;
        }
        pending.shift();
        const { item, out, continued } = head;
        const result = await head.done;
        ctx.signal.throwIfAborted();
        raise(result.problem, where);
        const bytes = Buffer.from(out);
        for (const [i, file] of result.files.entries()) {
          const { entry, abs, from, restarts } = item[i]!;
          if (file.replaced) {
            // Replaced (renamed over, say) between two pieces: read the new file from the start.
            entry.blobs = [];
            if (restarts < 3) queue.unshift([{ entry, abs, from: 0, restarts: restarts + 1 }]);
            else {
              vanished.add(entry);
              split(entry);
            }
            continue;
          }
          if (file.vanished || file.identity === undefined) {
            vanished.add(entry);
            split(entry);
            continue;
          }
          if (from === 0) {
            // The file as its reading began (it may have changed since the walk): a change
            // made while it was read leaves a later mtime, so the next protect reads it again.
            entry.ino = file.identity.ino;
            entry.mtimeNs = file.identity.mtimeNs;
            entry.mode = file.identity.mode;
          }
          for (const chunk of result.chunks.slice(file.first, file.first + file.count)) {
            const isNew = await writer.putEncoded({
              id: chunk.id,
              stored: bytes.subarray(chunk.at, chunk.at + chunk.length),
              rawLength: chunk.rawLength,
              compression: chunk.compression,
            });
            if (isNew) stats.bytesNew += chunk.rawLength;
            entry.blobs!.push(chunk.id);
          }
          stats.bytesRead += file.bytes;
          // The rest of a large file is the next task (queued already if the task said so
          // early); a file's pieces are put in packs in order, as the tasks were started.
          if (!file.done) {
            if (!continued) {
              const { dev, ino } = file.identity;
              const rest = { entry, abs, from: file.next, restarts, expect: { dev, ino } };
              queue.unshift([{ ...rest, ...(item[i]!.known ? { known: item[i]!.known } : {}) }]);
            }
          }
          // The file may have grown or shrunk since the walk: record what was stored.
          else {
            entry.size = file.next;
            const group = groups.get(entry);
            if (group && group.key !== `${file.identity.dev}:${file.identity.ino}`) split(entry);
          }
        }
        room.push(out); // putEncoded() has copied what it keeps
        // Files the task had no room for go next.
        if (result.files.length < item.length) queue.unshift(item.slice(result.files.length));
        filesRead += result.files.length;
        if (total > 0) {
          const seconds = (Date.now() - readingSince) / 1000;
          const rate = seconds > 0 ? ` at ${Math.round(stats.bytesRead / 1e6 / seconds)} MB/s` : '';
          ctx.progress(
            Math.min(1, stats.bytesRead / total),
            `${Math.round(stats.bytesRead / 1e6)} of ${Math.round(total / 1e6)} MB${rate}, ${filesRead} of ${toRead.length} files`,
          );
        }
      }
    } finally {
      await Promise.allSettled(pending.map((task) => task.done));
    }
    stats.bytesStored = (await writer.close()).bytesWritten;
    for (const [first, { others }] of groups) {
      for (const other of others) {
        const { size, ino, mode, mtimeNs, blobs } = first;
        Object.assign(other, { size, ino, mode, mtimeNs, blobs: [...(blobs ?? [])] });
        stats.hardLinks++;
      }
    }

    for (const entry of vanished) {
      ctx.log(
        `skipped ${entry.path}: it disappeared, or changed into something else, while the tree was read`,
      );
    }
    stats.skipped += vanished.size;
    const kept = entries.filter((e) => !vanished.has(e));
    for (const entry of kept) {
      if (entry.type !== 'file') continue;
      stats.files++;
      stats.bytes += entry.size!;
    }
    await writeManifest(ctx.bank, kept, lines);
    const rootDir: RootDir = { mode: Number(rootStat.mode & 0o7777n), mtimeNs: rootStat.mtimeNs.toString() };
    await ctx.bank.put(INFO, JSON.stringify({ root: base, rootDir, exclude, ...stats }, null, 2));
    ctx.progress(1);
    return stats;
  }

  /** The previous manifest and which of its blobs the store still has (one index lookup). */
  async function withKnown(
    previous: PreviousManifest,
  ): Promise<{ previous: PreviousManifest; known: Set<string> }> {
    const known = new Set<string>();
    for (const entry of await previous.all()) for (const id of entry.blobs ?? []) known.add(id);
    for (const id of await ctx.store.lacking(known)) known.delete(id);
    return { previous, known };
  }
}

function byPath(a: Entry, b: Entry): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/**
 * Below this many microseconds blocked per lstat (waiting on the disk, not for a core) the disk
 * answers about as fast as a thread can ask (a cached tree, a local SSD: 0–10 µs here), and a
 * walk is one thread's work: another thread's start (~40 ms of CPU) would cost more than it
 * saves. Slower (a cold spinning disk, a network file system) the rest of the walk fans out over
 * the pool, each thread waiting on the disk.
 */
const SLOW_LSTAT_US = 50;
/** Entries lstat'ed before the walk judges the disk's pace. */
const PACE_SAMPLE = 1000;
/**
 * A walk whose rest would take one thread longer than this fans out whatever the pace: a
 * thread's start (40–100 ms of CPU) is then a small part of what it saves on a machine with
 * cores to spare. (At 500 ms the 20 000 files of bench:incremental fanned out on the loaded
 * machine, where a share of 1 700 entries took 46 ms on a core instead of 25.)
 */
const FAN_OUT_MS = 1000;

/**
 * Whether the rest of a walk goes over the pool's threads at once: the disk proved slow
 * (SLOW_LSTAT_US), or the shares left would keep one thread longer than FAN_OUT_MS.
 */
export function fanOutNow(
  pace: { statted: number; cpuMs: number; blockedMs: number },
  perShareMs: number,
  sharesLeft: number,
): boolean {
  if (pace.statted < PACE_SAMPLE) return false;
  return (pace.blockedMs * 1000) / pace.statted > SLOW_LSTAT_US || perShareMs * sharesLeft > FAN_OUT_MS;
}

/**
 * The whole tree below `root` (not root itself): a few levels breadth first, then the
 * directories found in shares, one share at a time in one worker thread while the disk
 * answers fast, the remaining shares at once over the pool's threads once it proves slow
 * (with a cold cache on a slow disk the walk waits on it, one lstat at a time per thread).
 */
export async function walkTree(
  root: string,
  exclude: string[],
  where: string,
  signal: AbortSignal,
  fanOut: typeof fanOutNow = fanOutNow,
): Promise<{ entries: Entry[]; skipped: string[]; linkKeys: Map<Entry, string> }> {
  const threads = poolThreads();
  const entries: Entry[] = [];
  const skipped: string[] = [];
  const linkKeys = new Map<Entry, string>();
  let statted = 0;
  let cpuMs = 0;
  let blockedMs = 0;
  /** Walked entries as manifest entries; the link keys kept aside. */
  const take = (result: WalkResult) => {
    raise(result.problem, where);
    for (const { linkKey, ...entry } of result.entries) {
      entries.push(entry);
      if (linkKey !== undefined) linkKeys.set(entry, linkKey);
    }
    skipped.push(...result.skipped);
    statted += result.statted;
    cpuMs += result.cpuMs;
    blockedMs += result.blockedMs;
  };
  let frontier = [''];
  for (let round = 0; frontier.length > 0 && frontier.length < threads * 8 && round < 3; round++) {
    signal.throwIfAborted();
    const level = await run('walk', { root, dirs: frontier, depth: 1, exclude });
    take(level);
    frontier = level.deeper;
  }
  const groups = Math.min(frontier.length, threads * 4);
  const shares = Array.from({ length: groups }, (_, g) => frontier.filter((_, i) => i % groups === g));
  const depth = Number.POSITIVE_INFINITY;
  const before = cpuMs + blockedMs;
  let walked = 0;
  while (shares.length > 0) {
    signal.throwIfAborted();
    const perShareMs = walked > 0 ? (cpuMs + blockedMs - before) / walked : 0;
    if (fanOut({ statted, cpuMs, blockedMs }, perShareMs, shares.length)) {
      const results = await Promise.all(shares.map((dirs) => run('walk', { root, dirs, depth, exclude })));
      signal.throwIfAborted();
      for (const result of results) take(result);
      break;
    }
    take(await run('walk', { root, dirs: shares.shift()!, depth, exclude }));
    walked++;
  }
  return { entries, skipped, linkKeys };
}

/** A read task started and not yet put in packs. */
interface InFlight {
  item: Item;
  done: Promise<ReadResult>;
  out: SharedArrayBuffer;
  /** The task's `ReadTask.continuation`, and when it has written it (undefined once seen). */
  slots: BigInt64Array;
  said: Promise<void> | undefined;
  /** The piece after this task's last file is queued already. */
  continued: boolean;
}

/** Resolves once the task has written its continuation's state. */
function whenSaid(slots: BigInt64Array): Promise<void> {
  // Atomics.waitAsync is in Node 20, not in TypeScript's ES2023 library.
  const waitAsync = (
    Atomics as unknown as {
      waitAsync(
        array: BigInt64Array,
        index: number,
        value: bigint,
      ): { async: false; value: string } | { async: true; value: Promise<string> };
    }
  ).waitAsync;
  const wait = waitAsync(slots, 0, Continuation.PENDING);
  return wait.async ? wait.value.then(() => {}) : Promise.resolve();
}

/** The piece that continues the task's last file, if the task said it goes on. */
function continuationOf(task: InFlight): Item[number] | undefined {
  if (Atomics.load(task.slots, 0) !== Continuation.CONTINUES) return undefined;
  const values = new BigUint64Array(task.slots.buffer);
  const file = task.item[Number(values[4])]!;
  return {
    entry: file.entry,
    abs: file.abs,
    from: Number(values[1]),
    restarts: file.restarts,
    expect: { dev: values[2]!.toString(), ino: values[3]!.toString() },
    ...(file.known ? { known: file.known } : {}),
  };
}

/**
 * Files for one read task, each with where to read on from, the file its earlier pieces came
 * from, and how often it was started again because it was replaced while being read.
 */
type Item = {
  entry: Entry;
  abs: string;
  from: number;
  restarts: number;
  expect?: Identity;
  /** Blobs of the file's previous version that the store has (see ReadTask). */
  known?: string[];
}[];

/** Files in walk order, grouped into tasks of about TASK_BYTES; a larger file is a task alone. */
function tasks(files: { entry: Entry; abs: string; known?: string[] }[]): Item[] {
  const items: Item[] = [];
  let current: Item = [];
  let bytes = 0;
  for (const { entry, abs, known } of files) {
    const size = entry.size ?? 0;
    if (current.length > 0 && (bytes + size > TASK_BYTES || current.length >= TASK_FILES)) {
      items.push(current);
      current = [];
      bytes = 0;
    }
    current.push({ entry, abs, from: 0, restarts: 0, ...(known ? { known } : {}) });
    bytes += size;
  }
  if (current.length > 0) items.push(current);
  return items;
}

/** The manifest of the plan's previous checkpoint of this resource (empty if none). */
async function previousEntries(ctx: HookContext): Promise<PreviousManifest> {
  return ctx.previous ? PreviousManifest.read(ctx.previous) : new PreviousManifest();
}
