/**
 * Restore into `target`. Nothing is ever written outside it, whatever the checkpoint holds:
 * manifest paths are checked (no absolute paths, no `..`), directories are created one
 * component at a time refusing any component that is a symbolic link, files are written
 * to a temporary name in their directory and renamed (so a link in the file's place is
 * replaced, never followed), and links are created last.
 */
import { randomBytes } from 'node:crypto';
import {
  chmod,
  type FileHandle,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  symlink,
  unlink,
  utimes,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HoardError } from '../../errors.js';
import type { HookContext } from '../sdk.js';
import { type Entry, readManifest } from './manifest.js';

const RESTORE_CONCURRENCY = 8;

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
): Promise<RestoreStats> {
  const where = `${ctx.resource.type}#${ctx.resource.id}`;
  const root = resolve(target);
  const entries = await readManifest(ctx.bank);
  checkNesting(entries, where);
  await prepareRoot(root, overwrite, where);
  const stats: RestoreStats = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const total = entries.reduce((n, e) => n + (e.size ?? 0), 0);

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

  for (const entry of entries.filter((e) => e.type === 'dir')) {
    const abs = await place(entry.path);
    const st = await lstat(abs).catch(() => undefined);
    if (st && !st.isDirectory()) {
      if (!overwrite) throw exists(where, abs);
      await rm(abs, { recursive: true, force: true });
    }
    if (!st?.isDirectory()) await mkdir(abs, { mode: 0o700 });
    stats.dirs++;
  }

  // Files several at a time: small files cost more in system calls than in bytes.
  const files = entries.filter((e) => e.type === 'file');
  const tempPrefix = `.hoard-restore-${randomBytes(6).toString('hex')}-`;
  let tempCount = 0;
  let next = 0;
  const restoreFiles = async () => {
    while (next < files.length) {
      ctx.signal.throwIfAborted();
      const entry = files[next++]!;
      const abs = await place(entry.path);
      const st = await lstat(abs).catch(() => undefined);
      if (st && !overwrite) throw exists(where, abs);
      if (st?.isDirectory()) await rm(abs, { recursive: true, force: true });
      const temp = join(abs, '..', `${tempPrefix}${(tempCount++).toString(36)}`);
      try {
        // Created here ('wx': never an existing file or a link), written, given its mode and
        // times through the same descriptor, then renamed into place.
        const handle = await open(temp, 'wx', 0o600);
        try {
          for await (const blob of ctx.store.readBlobsIterable(entry.blobs ?? [])) {
            ctx.signal.throwIfAborted();
            await writeAll(handle, blob);
          }
          await handle.chmod(entry.mode);
          const seconds = mtimeSeconds(entry);
          await handle.utimes(seconds, seconds);
        } finally {
          await handle.close();
        }
        await rename(temp, abs);
      } catch (error) {
        await unlink(temp).catch(() => {});
        throw error;
      }
      stats.files++;
      stats.bytes += entry.size ?? 0;
      if (total > 0) ctx.progress(stats.bytes / total);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(RESTORE_CONCURRENCY, Math.max(1, files.length)) }, restoreFiles),
  );

  for (const entry of entries.filter((e) => e.type === 'symlink')) {
    const abs = await place(entry.path);
    const st = await lstat(abs).catch(() => undefined);
    if (st) {
      if (!overwrite) throw exists(where, abs);
      await rm(abs, { recursive: true, force: true });
    }
    await symlink(entry.target ?? '', abs);
    await setTimes(abs, entry, true);
    stats.symlinks++;
  }

  // Directories last, deepest first: writing their contents changed their times.
  const dirs = entries.filter((e) => e.type === 'dir').sort((a, b) => b.path.length - a.path.length);
  for (const entry of dirs) {
    const abs = join(root, ...entry.path.split('/'));
    await chmod(abs, entry.mode);
    await setTimes(abs, entry, false);
  }
  ctx.progress(1);
  return stats;
}

/** Refuses, before writing anything, a manifest that puts an entry under a link or a file. */
function checkNesting(entries: Entry[], where: string): void {
  const kinds = new Map<string, string>();
  for (const e of entries) {
    if (kinds.has(e.path))
      throw new HoardError('STORE_CORRUPT', `${where}: the checkpoint lists "${e.path}" twice`);
    kinds.set(e.path, e.type);
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
      `${where}: restore target ${root} is not empty; restore into a new directory or pass --overwrite`,
      { details: { target: root } },
    );
  }
}

function exists(where: string, abs: string): HoardError {
  return new HoardError('HOOK_FAILED', `${where}: ${abs} already exists; pass --overwrite to replace it`, {
    details: { path: abs },
  });
}

/** Writes all of `bytes` at the file's current position. */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, at, bytes.length - at, null);
    at += bytesWritten;
  }
}

function mtimeSeconds(entry: Entry): number {
  // Nanosecond mtimes round-trip only to what the filesystem and utimes' double allow
  // (microseconds); restore keeps the same second and as many digits as possible.
  const ns = BigInt(entry.mtimeNs);
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}

async function setTimes(abs: string, entry: Entry, link: boolean): Promise<void> {
  const seconds = mtimeSeconds(entry);
  if (link) await lutimes(abs, seconds, seconds).catch(() => {});
  else await utimes(abs, seconds, seconds);
}
