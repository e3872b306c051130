/**
 * Protect: walk the tree, store the content of new or changed files in the content store,
 * and write the manifest. A file whose size, mtime and inode match the previous checkpoint
 * of the plan is not read again: its blobs are reused.
 */
import { lstat, open, opendir, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import picomatch from 'picomatch';
import { HoardError } from '../../errors.js';
import type { HookContext } from '../sdk.js';
import { type Entry, INFO, readManifest, writeManifest } from './manifest.js';

export interface SnapshotStats {
  files: number;
  dirs: number;
  symlinks: number;
  skipped: number;
  bytes: number;
  /** Bytes read from files that changed since the previous checkpoint. */
  bytesRead: number;
  /** Bytes of new blobs written to the store. */
  bytesNew: number;
  filesReused: number;
}

export async function snapshot(
  ctx: HookContext,
  root: string,
  exclude: string[],
  concurrency: number,
): Promise<SnapshotStats> {
  const base = resolve(root);
  const rootStat = await lstat(base).catch((error: NodeJS.ErrnoException) => {
    throw new HoardError(
      'HOOK_FAILED',
      `${ctx.resource.type}#${ctx.resource.id}: cannot read ${base}: ${error.code ?? error.message}`,
      {
        cause: error,
      },
    );
  });
  if (!rootStat.isDirectory()) {
    throw new HoardError(
      'HOOK_FAILED',
      `${ctx.resource.type}#${ctx.resource.id}: ${base} is not a directory`,
    );
  }
  const excluded = exclude.length ? picomatch(exclude, { dot: true }) : () => false;
  // The writer's lease keeps a prune away from here on, so blobs reused from the previous
  // checkpoint cannot disappear before this checkpoint refers to them.
  const writer = await ctx.store.openWriter(`${ctx.checkpoint.id} ${ctx.resource.type}#${ctx.resource.id}`);
  try {
    return await walkAndStore();
  } catch (error) {
    await writer.abort().catch(() => {});
    throw error;
  }

  async function walkAndStore(): Promise<SnapshotStats> {
    const previous = await previousEntries(ctx);
    const stats: SnapshotStats = {
      files: 0,
      dirs: 0,
      symlinks: 0,
      skipped: 0,
      bytes: 0,
      bytesRead: 0,
      bytesNew: 0,
      filesReused: 0,
    };

    // Pass 1: walk and stat everything, so progress can be reported against a known total.
    const entries: Entry[] = [];
    const toRead: { entry: Entry; abs: string }[] = [];
    const dirs = [''];
    while (dirs.length > 0) {
      ctx.signal.throwIfAborted();
      const rel = dirs.pop()!;
      const dir = await opendir(rel ? join(base, rel) : base);
      const names: string[] = [];
      for await (const d of dir) names.push(d.name);
      names.sort();
      const paths = names.map((name) => (rel ? `${rel}/${name}` : name)).filter((path) => !excluded(path));
      // Stat a directory's entries together: the walk is bound by system-call latency.
      const statted = await Promise.all(paths.map((path) => lstat(join(base, path), { bigint: true })));
      for (const [i, path] of paths.entries()) {
        const abs = join(base, path);
        const st = statted[i]!;
        const common = { path, mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs.toString() };
        if (st.isDirectory()) {
          entries.push({ ...common, type: 'dir' });
          dirs.push(path);
          stats.dirs++;
        } else if (st.isSymbolicLink()) {
          entries.push({ ...common, type: 'symlink', target: await readlink(abs) });
          stats.symlinks++;
        } else if (st.isFile()) {
          const entry: Entry = { ...common, type: 'file', size: Number(st.size), ino: st.ino.toString() };
          const before = previous.get(path);
          if (
            before?.type === 'file' &&
            before.size === entry.size &&
            before.mtimeNs === entry.mtimeNs &&
            before.ino === entry.ino &&
            (await allKnown(before.blobs ?? []))
          ) {
            entry.blobs = before.blobs ?? [];
            stats.filesReused++;
          } else {
            toRead.push({ entry, abs });
          }
          entries.push(entry);
          stats.files++;
          stats.bytes += entry.size!;
        } else {
          ctx.log(`skipped ${path}: not a file, directory or symbolic link`);
          stats.skipped++;
        }
      }
    }

    // Pass 2: read and store changed files, a few at a time (reading overlaps hashing and
    // writing; memory stays at a few chunks per file in flight).
    const total = toRead.reduce((n, f) => n + f.entry.size!, 0);
    {
      let next = 0;
      const worker = async () => {
        // One read buffer per worker, reused for every file: the writer copies each piece
        // before it asks for the next (StoreWriter.write).
        const buffer = Buffer.allocUnsafe(READ_SIZE);
        while (next < toRead.length) {
          ctx.signal.throwIfAborted();
          const { entry, abs } = toRead[next++]!;
          const written = await writer.write(
            readPieces(abs, buffer, ctx.signal, (n) => {
              stats.bytesRead += n;
              if (total > 0)
                ctx.progress(
                  stats.bytesRead / total,
                  `${Math.round(stats.bytesRead / 1e6)} of ${Math.round(total / 1e6)} MB`,
                );
            }),
          );
          entry.blobs = written.blobs;
          // The file may have grown or shrunk while it was read: record what was stored.
          entry.size = written.size;
          stats.bytesNew += written.newBytes;
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, toRead.length)) }, worker));
      await writer.close();
    }

    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    await writeManifest(ctx.bank, entries);
    await ctx.bank.put(INFO, JSON.stringify({ root: base, exclude, ...stats }, null, 2));
    ctx.progress(1);
    return stats;
  }

  async function allKnown(blobs: string[]): Promise<boolean> {
    for (const id of blobs) if (!(await ctx.store.hasBlob(id))) return false;
    return true;
  }
}

/** Bytes read from a file at a time. */
const READ_SIZE = 1 << 20;

/**
 * The bytes of a file as pieces of `buffer`, which is overwritten for each piece: the consumer
 * must be done with a piece before it asks for the next. Reads until the end as it is then
 * (the file may grow or shrink meanwhile).
 */
async function* readPieces(
  abs: string,
  buffer: Buffer,
  signal: AbortSignal,
  counted: (n: number) => void,
): AsyncGenerator<Buffer> {
  const handle = await open(abs, 'r');
  try {
    for (;;) {
      signal.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      counted(bytesRead);
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** The entries of the plan's previous checkpoint of this resource, by path (empty if none). */
async function previousEntries(ctx: HookContext): Promise<Map<string, Entry>> {
  if (!ctx.previous) return new Map();
  try {
    return new Map((await readManifest(ctx.previous)).map((e) => [e.path, e]));
  } catch {
    return new Map(); // no usable previous manifest: read everything
  }
}
