/**
 * Restore into `target`. Nothing is ever written outside it, whatever the checkpoint holds:
 * manifest paths are checked (no absolute paths, no `..`), directories are created one
 * component at a time refusing any component that is a symbolic link, files are written
 * (in worker threads) to a temporary name in their directory and renamed (so a link in the
 * file's place is replaced, never followed), and links are created last.
 *
 * Damaged blobs (a flipped byte, a pack cut short or gone, a blob in no index) cost only the
 * files that hold them: every other file, link and directory is restored, then the hook fails
 * naming each damaged file with its blob and pack. Directories get their modes and times at
 * the end even when the restore fails.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rm, symlink, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { HoardError } from '../../errors.js';
import type { HookContext } from '../sdk.js';
import { selectIncluded } from './browse.js';
import { Damage, type DamagedFile, damageError, damageLines } from './damage.js';
import { type Entry, INFO, manifestName, type RootDir, readManifest } from './manifest.js';
import { poolThreads, raise, run } from './pool.js';
import type { DamagedBlob, LinkFile, RestoreFile, RestoreResult, SharedFiles, TimesTask } from './worker.js';

export interface RestoreStats {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

export async function restoreTree(
  ctx: HookContext,
  target: string,
  overwrite: boolean,
  include?: readonly string[],
): Promise<RestoreStats> {
  const where = `${ctx.resource.type}#${ctx.resource.id}`;
  const root = resolve(target);
  const manifest = await readManifest(ctx.bank, manifestName(ctx));
  checkNesting(manifest, where);
  // A partial restore: only the packs holding the chosen files' blobs are read (restoreFiles).
  const entries = include
    ? selectIncluded(manifest, include, `${where} in checkpoint ${ctx.checkpoint.id}`)
    : manifest;
  await prepareRoot(root, overwrite, where);
  const stats: RestoreStats = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };

  /**
   * Directories inside root already found (or made) to be real directories in this restore,
   * so each is checked once rather than once per file under it.
   */
  const checked = new Set<string>();
  /** The absolute path of `rel`, after making sure every parent inside root is a real directory. */
  const place = async (rel: string): Promise<string> => {
    const parts = rel.split('/');
    let dir = root;
    for (const part of parts.slice(0, -1)) {
      dir = join(dir, part);
      if (checked.has(dir)) continue;
      const st = await lstat(dir).catch(() => undefined);
      if (!st) {
        // Another file of the same directory may be creating it right now.
        await mkdir(dir, { mode: 0o700 }).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST' || !(await lstat(dir)).isDirectory()) throw error;
        });
        checked.add(dir);
      } else if (st.isDirectory()) {
        checked.add(dir);
      } else {
        throw new HoardError(
          'HOOK_FAILED',
          `${where}: refusing to restore "${rel}": "${dir}" is not a directory (a link or file is in the way)`,
          {
            details: { path: rel },
          },
        );
      }
    }
    return join(dir, parts[parts.length - 1]!);
  };

  const files = entries.filter((e) => e.type === 'file' && e.hardLink === undefined);
  const linked = entries.filter((e) => e.type === 'file' && e.hardLink !== undefined);
  /** Directories this restore made (or found), to be given their modes and times at the end. */
  const dirs: Entry[] = [];
  const links: TimesTask['items'] = [];
  let damaged: DamagedFile[] = [];
  let failure: unknown;
  try {
    for (const entry of entries.filter((e) => e.type === 'dir')) {
      const abs = await place(entry.path);
      const st = await lstat(abs).catch(() => undefined);
      if (st && !st.isDirectory()) {
        if (!overwrite) throw exists(where, abs);
        await rm(abs, { recursive: true, force: true });
      }
      if (!st?.isDirectory()) await mkdir(abs, { mode: 0o700 });
      dirs.push(entry);
      stats.dirs++;
    }

    damaged = await restoreFiles(ctx, files, root, place, overwrite, stats);
    damaged.push(...(await restoreLinked(ctx, linked, damaged, root, place, overwrite, stats)));

    for (const entry of entries.filter((e) => e.type === 'symlink')) {
      const abs = await place(entry.path);
      const st = await lstat(abs).catch(() => undefined);
      if (st) {
        if (!overwrite) throw exists(where, abs);
        await rm(abs, { recursive: true, force: true });
      }
      await symlink(entry.target ?? '', abs);
      links.push({ path: abs, mtimeNs: entry.mtimeNs });
      stats.symlinks++;
    }
  } catch (error) {
    failure = error;
  }

  // Directories last, deepest first (writing their contents changed their times), the target
  // itself (the protected root's mode and time) at the very end, and after a failure too: a
  // directory left at 0700 is damage of its own.
  dirs.sort((a, b) => b.path.length - a.path.length);
  const items: TimesTask['items'] = [
    ...links,
    ...dirs.map((e) => ({ path: join(root, ...e.path.split('/')), mtimeNs: e.mtimeNs, mode: e.mode })),
  ];
  const top = await rootOf(ctx);
  if (top) items.push({ path: root, mtimeNs: top.mtimeNs, mode: top.mode });
  try {
    for (let i = 0; i < items.length; i += 4096) {
      const result = await run('times', { items: items.slice(i, i + 4096) });
      if (result.problem)
        failure ??= new HoardError(result.problem.code, `${where}: ${result.problem.message}`);
    }
  } catch (error) {
    failure ??= error;
  }
  if (failure !== undefined) throw failure;
  if (damaged.length > 0) {
    throw damageError(
      where,
      `${damaged.length} damaged file(s) not restored (${stats.files} of ${files.length + linked.length} files restored, and every directory and link)`,
      damaged,
    );
  }
  ctx.progress(1);
  return stats;
}

/**
 * The files, in worker threads: the content store reads each pack once and hands over its
 * blobs in batches; a worker decodes and checks each blob and writes it into every file (and
 * at every offset) that holds it; whoever writes a file's last blob finishes the file. A file
 * that needs a damaged blob is left out (its temporary file removed) and returned, with why;
 * any other problem stops the restore.
 */
async function restoreFiles(
  ctx: HookContext,
  files: Entry[],
  root: string,
  place: (rel: string) => Promise<string>,
  overwrite: boolean,
  stats: RestoreStats,
): Promise<DamagedFile[]> {
  const where = `${ctx.resource.type}#${ctx.resource.id}`;
  const tempPrefix = `.hoard-restore-${randomBytes(6).toString('hex')}-`;
  // Every file's directory made (or refused) before anything is written.
  for (const [index, entry] of files.entries()) {
    if (index % 1024 === 0) ctx.signal.throwIfAborted();
    await place(entry.path);
  }
  /**
   * A file's names, made when a task needs them: held for all 20 000 files of a restore at
   * once, they were ~10 MiB of the main thread's heap, which every full collection marks.
   */
  const fileOf = (index: number): RestoreFile => {
    const entry = files[index]!;
    const path = join(root, ...entry.path.split('/'));
    const temp = join(dirname(path), `${tempPrefix}${index.toString(36)}`);
    return { index, temp, path, mode: entry.mode, mtimeNs: entry.mtimeNs };
  };

  // Blobs no index holds (a pack lost with its index object) cost their files; the rest are located.
  const damage = new Damage();
  const ids = files.flatMap((e) => e.blobs ?? []);
  for (const id of await ctx.store.lacking(ids)) damage.missing(id);
  const locations = await ctx.store.locate(ids.filter((id) => !damage.has(id)));

  // Where each blob goes: [file, offset, file, offset, …]; and per file, the writes to come.
  const targets = new Map<string, number[]>();
  const n = Math.max(1, files.length);
  const shared: SharedFiles = {
    remaining: new Int32Array(new SharedArrayBuffer(4 * n)),
    state: new Int32Array(new SharedArrayBuffer(4 * n)),
    identity: new BigInt64Array(new SharedArrayBuffer(16 * n)),
    damaged: new Int32Array(new SharedArrayBuffer(4 * n)),
  };
  const { remaining } = shared;
  let total = 0;
  for (const [index, entry] of files.entries()) {
    const blobs = entry.blobs ?? [];
    if (blobs.some((id) => damage.has(id))) {
      shared.damaged[index] = 1;
      continue;
    }
    let size = 0;
    for (const id of blobs) size += locations.get(id)!.rawLength;
    if (entry.size !== undefined && size !== entry.size) {
      damage.file({
        path: entry.path,
        problem: `the checkpoint says "${entry.path}" has ${entry.size} bytes, but its blobs hold ${size}`,
      });
      shared.damaged[index] = 1;
      continue;
    }
    let offset = 0;
    for (const id of blobs) {
      let places = targets.get(id);
      if (places === undefined) {
        places = [];
        targets.set(id, places);
      }
      places.push(index, offset);
      offset += locations.get(id)!.rawLength;
      remaining[index]!++;
    }
    total += offset;
  }
  /** A damaged blob: its files are written no further. */
  const lost = (blob: DamagedBlob) => {
    damage.blob(blob);
    const places = targets.get(blob.id) ?? [];
    for (let t = 0; t < places.length; t += 2) Atomics.store(shared.damaged, places[t]!, 1);
  };

  const finished = new Set<number>();
  const pending: Promise<RestoreResult & { memory: SharedArrayBuffer }>[] = [];
  const reuse: SharedArrayBuffer[] = [];
  const limit = poolThreads() + 1;
  let failure: unknown;
  /** Takes the oldest task's result; the first problem is kept, later ones are dropped. */
  const settle = async () => {
    const result = await pending.shift()!;
    if (result.memory.byteLength > 0) reuse.push(result.memory);
    for (const index of result.finished) finished.add(index);
    for (const blob of result.damaged) lost(blob);
    stats.bytes += result.bytes;
    stats.files += result.finished.length;
    if (total > 0) ctx.progress(stats.bytes / total);
    raise(result.problem, where);
  };
  try {
    const empty: number[] = [];
    for (let index = 0; index < files.length; index++)
      if (remaining[index] === 0 && shared.damaged[index] === 0) empty.push(index);
    const none = new SharedArrayBuffer(0);
    for (let i = 0; i < empty.length; i += 512) {
      const files = empty.slice(i, i + 512).map(fileOf);
      pending.push(run('restoreEmpty', { files, shared, overwrite }).then((r) => ({ ...r, memory: none })));
    }
    const wanted = [...targets.keys()].map((id) => locations.get(id)!);
    const batches = ctx.store.readBatches(wanted, {
      // 4 MiB, not the default 16: each task in flight holds one (peak memory: README Benchmarks).
      batchBytes: 4 * 1024 * 1024,
      reuse,
      signal: ctx.signal,
      damaged: (blobs, why) => {
        for (const blob of blobs) lost({ id: blob.id, pack: blob.pack, problem: why.message });
      },
    });
    for await (const batch of batches) {
      ctx.signal.throwIfAborted();
      const touched: Record<number, RestoreFile> = {};
      const batchTargets = batch.blobs.map((blob) => {
        const places = targets.get(blob.id)!;
        for (let t = 0; t < places.length; t += 2) touched[places[t]!] ??= fileOf(places[t]!);
        return places;
      });
      const task = {
        bytes: batch.bytes,
        blobs: batch.blobs,
        targets: batchTargets,
        files: touched,
        shared,
        overwrite,
        ...(batch.idKey ? { idKey: batch.idKey } : {}),
      };
      const memory = batch.bytes.buffer as SharedArrayBuffer;
      pending.push(run('restore', task).then((r) => ({ ...r, memory })));
      while (pending.length >= limit) await settle();
    }
    while (pending.length > 0) await settle();
  } catch (error) {
    failure = error;
  } finally {
    // Even after a failure, let the tasks in flight end before cleaning up after them.
    for (const result of await Promise.allSettled(pending))
      if (result.status === 'fulfilled') for (const index of result.value.finished) finished.add(index);
  }
  const unfinished: number[] = [];
  for (let index = 0; index < files.length; index++) if (!finished.has(index)) unfinished.push(index);
  if (failure === undefined) {
    const lostTrack = unfinished.filter((index) => shared.damaged[index] === 0).length;
    if (lostTrack > 0) {
      failure = new HoardError('INTERNAL', `${where}: ${lostTrack} file(s) were not finished by the restore`);
    }
  }
  // No half-written file is left behind under a temporary name (only those this restore made).
  const made = unfinished.filter((index) => Atomics.load(shared.state, index) === 2);
  await Promise.all(made.map((index) => unlink(fileOf(index).temp).catch(() => {})));
  const damaged = damage.files(files);
  for (const line of damageLines(damaged, 'damaged, not restored')) ctx.log(line);
  // So the store stops offering these copies: the next protect of the same data writes them again.
  if (damage.blobCount > 0)
    await ctx.store.recordDamage(damage.list(), `restore of checkpoint ${ctx.checkpoint.id}`);
  if (failure !== undefined) throw failure;
  return damaged;
}

/**
 * The files that are hard links to an earlier file, once those are restored: each linked to
 * its first path (in a worker thread), or, when that file is damaged, returned as damaged too.
 */
async function restoreLinked(
  ctx: HookContext,
  linked: Entry[],
  damaged: DamagedFile[],
  root: string,
  place: (rel: string) => Promise<string>,
  overwrite: boolean,
  stats: RestoreStats,
): Promise<DamagedFile[]> {
  if (linked.length === 0) return [];
  const where = `${ctx.resource.type}#${ctx.resource.id}`;
  const lost = new Map(damaged.map((d) => [d.path, d]));
  const tempPrefix = `.hoard-restore-${randomBytes(6).toString('hex')}-l`;
  const out: DamagedFile[] = [];
  const files: LinkFile[] = [];
  for (const [index, entry] of linked.entries()) {
    const first = lost.get(entry.hardLink!);
    if (first) {
      out.push({ ...first, path: entry.path, problem: `a hard link to "${first.path}": ${first.problem}` });
      continue;
    }
    const path = await place(entry.path);
    const temp = join(dirname(path), `${tempPrefix}${index.toString(36)}`);
    const from = join(root, ...entry.hardLink!.split('/'));
    files.push({ index, temp, path, from, mode: entry.mode, mtimeNs: entry.mtimeNs });
  }
  for (let i = 0; i < files.length; i += 1024) {
    ctx.signal.throwIfAborted();
    const result = await run('restoreLinks', { files: files.slice(i, i + 1024), overwrite });
    stats.files += result.done;
    raise(result.problem, where);
  }
  for (const line of damageLines(out, 'damaged, not restored')) ctx.log(line);
  return out;
}

/**
 * Refuses, before writing anything, a manifest that puts an entry under a link or a file, or
 * a hard link to anything but an earlier file that is no hard link itself.
 */
function checkNesting(entries: Entry[], where: string): void {
  const kinds = new Map<string, string>();
  for (const e of entries) {
    if (kinds.has(e.path))
      throw new HoardError('STORE_CORRUPT', `${where}: the checkpoint lists "${e.path}" twice`);
    if (e.hardLink !== undefined && (e.type !== 'file' || kinds.get(e.hardLink) !== 'file')) {
      throw new HoardError(
        'STORE_CORRUPT',
        `${where}: the checkpoint makes "${e.path}" a hard link to "${e.hardLink}", which is no earlier file; refusing it`,
        { details: { path: e.path } },
      );
    }
    kinds.set(e.path, e.hardLink === undefined ? e.type : 'hard link');
  }
  for (const e of entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const kind = kinds.get(parent);
      if (kind !== undefined && kind !== 'dir') {
        throw new HoardError(
          'STORE_CORRUPT',
          `${where}: the checkpoint puts "${e.path}" under "${parent}", which is a ${kind}; refusing it`,
          {
            details: { path: e.path },
          },
        );
      }
    }
  }
}

async function prepareRoot(root: string, overwrite: boolean, where: string): Promise<void> {
  const st = await lstat(root).catch(() => undefined);
  if (!st) {
    await mkdir(root, { recursive: true });
    return;
  }
  if (!st.isDirectory()) {
    throw new HoardError('HOOK_FAILED', `${where}: restore target ${root} exists and is not a directory`, {
      details: { target: root },
    });
  }
  if (!overwrite && (await readdir(root)).length > 0) {
    throw new HoardError(
      'HOOK_FAILED',
      `${where}: restore target ${root} is not empty; restore into a new directory or pass --overwrite (API: "overwrite": true)`,
      { details: { target: root } },
    );
  }
}

function exists(where: string, abs: string): HoardError {
  return new HoardError(
    'HOOK_FAILED',
    `${where}: ${abs} already exists; pass --overwrite (API: "overwrite": true) to replace it`,
    {
      details: { path: abs },
    },
  );
}

/** The protected root's mode and time, from info.json; undefined for a checkpoint taken before they were kept. */
async function rootOf(ctx: HookContext): Promise<RootDir | undefined> {
  try {
    const info = JSON.parse((await ctx.bank.get(INFO)).toString('utf8')) as { rootDir?: RootDir };
    const top = info.rootDir;
    if (typeof top?.mode === 'number' && typeof top.mtimeNs === 'string' && /^-?\d+$/.test(top.mtimeNs))
      return { mode: top.mode & 0o7777, mtimeNs: top.mtimeNs };
  } catch {
    // No info.json, or not JSON: the target keeps the mode and time the restore left it.
  }
  return undefined;
}
