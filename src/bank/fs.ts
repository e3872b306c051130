import { type Dirent, statSync } from 'node:fs';
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { decorate } from './compose.js';
import type { EncryptionSettings } from './encrypted.js';
import { FsLeases } from './fs-leases.js';
import { isCode, syncDir, tempName } from './fs-util.js';
import { isKeySegment } from './keys.js';
import {
  type BankStore,
  type CallOptions,
  keyConflict,
  type StoreData,
  type StoreListOptions,
  type SweepReport,
} from './store.js';
import type { ObjectInfo, Pieces, StagedObject } from './types.js';
import { BankView } from './view.js';

/**
 * How often a staged object's temporary has its modification time renewed: well under the two
 * lease lifetimes after which gc's `sweep` removes a temporary (60 s by default; a lease
 * shorter than a second is for tests).
 */
const STAGED_FRESH_MS = 500;

export interface FsBankOptions {
  /**
   * The clock leases expire by, in ms since the epoch.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Refuse every write with BANK_READ_ONLY.
   * @default false
   */
  readOnly?: boolean;
  /**
   * Encrypt what is stored (encrypted.ts).
   * @default no encryption, and no check for it
   */
  encryption?: EncryptionSettings;
}

/**
 * A bank in a directory, safe for several processes to share.
 *
 * Each key is a file under the root, its segments directories: 'a/b/c' is `<root>/a/b/c`.
 * Names starting with '.' are never keys, so they are never listed: `.tmp-*` files are
 * writes in progress or left by a crash, and `<root>/.leases/` holds the leases.
 *
 * A put writes a `.tmp-*` file in the key's directory, fsyncs it, renames it over the key and
 * fsyncs the directory, so a reader or a crash sees the old object or the new one. A delete
 * removes the directories it leaves empty, up to the root.
 */
export class FsBank extends BankView {
  readonly root: string;

  constructor(root: string, options: FsBankOptions = {}) {
    const resolved = resolve(root);
    const store = new FsStore(resolved, options.now ?? Date.now);
    super(
      decorate(store, options.encryption ? { encryption: options.encryption } : {}),
      '',
      options.readOnly ?? false,
    );
    this.root = resolved;
  }
}

/** Bytes a stream reads at a time. */
const READ_CHUNK = 1024 * 1024;

/** How often a put starts over when a concurrent delete removes the directory it is writing in. */
const RETRIES = 10;

interface Entry {
  name: string;
  directory: boolean;
  /** The name as it sorts among keys: a directory's keys all continue with '/'. */
  order: string;
}

/**
 * A directory's listing is kept only once its last change is this old: a change within the
 * same tick of the file system's clock (ext4's is a jiffy, 1–10 ms) could leave its mtime
 * unchanged, but a change after this long gives a later one.
 */
const SETTLED_MS = 2000;
/**
 * Entries of directory listings kept per bank, in all (about 100 bytes each): the newest pages
 * of the indexes need a few hundred each; a large directory (the content store's) may push
 * older listings out, never grow memory past this.
 */
const ENTRIES_KEPT = 100_000;

interface Listing {
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  entries: readonly Entry[];
}

class FsStore implements BankStore {
  private readonly leases: FsLeases;
  /**
   * Directory listings by path, each valid while the directory's mtime, ctime and inode are
   * unchanged: every entry created, removed or renamed in a directory changes its mtime, in
   * this process or any other, so a listing answered from here is the one readdir would give.
   */
  private readonly listings = new Map<string, Listing>();
  /** Entries in `listings`, in all. */
  private entriesKept = 0;

  constructor(
    private readonly root: string,
    readonly now: () => number,
  ) {
    this.leases = new FsLeases(join(root, '.leases'), now);
  }

  async put(key: string, data: StoreData, call?: CallOptions): Promise<void> {
    const target = this.path(key);
    const dir = dirname(target);
    // Fail before reading a large stream if the key can never be stored.
    if ((await isDirectory(target)) && !(await removeEmptyDir(target))) throw keyConflict(key, key);
    const { tmp, handle } = await this.createTemp(key, dir);
    try {
      try {
        // A stream (a dump) may take long to write: a cancel stops it; the temporary goes.
        await writeFile(handle, data, call?.signal ? { signal: call.signal } : {});
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.moveInto(key, tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      await this.prune(dir).catch(() => {});
      throw error;
    }
    await syncDir(dir);
  }

  /**
   * A `.tmp-*` file in the prefix's directory, made at the first write (a crash leaves only it,
   * for `sweep`); committing fsyncs it, renames it to the key (same file system: atomic) and
   * fsyncs the key's directory, as `put` does.
   */
  stage(prefix: string): StagedObject {
    const dir = this.path(prefix);
    let temp: Promise<{ tmp: string; handle: FileHandle }> | undefined;
    let spent = false;
    // A pack may wait half-filled while other hooks run; `sweep` (gc) takes a `.tmp-*` file
    // unchanged for two lease lifetimes for a crash's leftover, so this one's time is kept fresh.
    let fresh: NodeJS.Timeout | undefined;
    const opened = () => {
      if (spent) throw new Error('this staged object is spent');
      temp ??= this.createTemp(prefix, dir).then((made) => {
        // Discarded while the temporary was being made: nothing to keep fresh.
        if (spent) return made;
        fresh = setInterval(() => {
          const now = new Date();
          made.handle.utimes(now, now).catch(() => {});
        }, STAGED_FRESH_MS).unref();
        return made;
      });
      return temp;
    };
    const remove = async () => {
      spent = true;
      clearInterval(fresh);
      const made = await temp?.catch(() => undefined);
      if (made === undefined) return;
      await made.handle.close().catch(() => {});
      await rm(made.tmp, { force: true });
    };
    return {
      write: async (bytes) => {
        const { handle } = await opened();
        for (let at = 0; at < bytes.length; ) {
          at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
        }
      },
      commit: async (key) => {
        const target = this.path(key);
        try {
          const { tmp, handle } = await opened();
          spent = true;
          clearInterval(fresh);
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
          await this.makeDirs(key, dirname(target));
          await this.moveInto(key, tmp, target);
        } catch (error) {
          await remove();
          throw error;
        }
        await syncDir(dirname(target));
      },
      discard: remove,
    };
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path(key));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    // Large reads: packs and dumps are megabytes, and each read is a round trip to the thread pool.
    return (await this.openFile(key))?.createReadStream({ highWaterMark: READ_CHUNK });
  }

  async getPieces(key: string): Promise<Pieces | undefined> {
    const handle = await this.openFile(key);
    return handle && new FilePieces(handle);
  }

  /** The object's file opened for reading; undefined if there is none. */
  private async openFile(key: string): Promise<FileHandle | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.path(key), 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    try {
      if ((await handle.stat()).isFile()) return handle;
    } catch (error) {
      await handle.close();
      throw error;
    }
    await handle.close();
    return undefined;
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.path(key), 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) return undefined;
      const want = Math.max(0, Math.min(length, info.size - offset));
      const buffer = Buffer.allocUnsafe(want);
      let filled = 0;
      // A positioned read; a file cut short meanwhile gives what is there.
      while (filled < want) {
        const { bytesRead } = await handle.read(buffer, filled, want - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === want ? buffer : buffer.subarray(0, filled);
    } finally {
      await handle.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await stat(this.path(key));
      return info.isFile() ? { size: info.size, modifiedAt: info.mtimeMs } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    const target = this.path(key);
    try {
      await unlink(target);
    } catch (error) {
      if (isMissing(error) || (isCode(error, 'EPERM') && (await isDirectory(target)))) return;
      throw error;
    }
    await this.prune(dirname(target));
  }

  async list(prefix: string, { marker, desc, limit }: StoreListOptions): Promise<string[]> {
    const cut = prefix.lastIndexOf('/') + 1;
    const keys: string[] = [];
    if (limit <= 0) return keys;
    for await (const key of this.walk(prefix.slice(0, cut), prefix.slice(cut), marker, desc)) {
      keys.push(key);
      if (keys.length >= limit) break;
    }
    return keys;
  }

  acquireLease(name: string, owner: string, token: string, ttlMs: number) {
    return this.leases.acquire(name, owner, token, ttlMs);
  }

  renewLease(name: string, token: string, ttlMs: number) {
    return this.leases.renew(name, token, ttlMs);
  }

  releaseLease(name: string, token: string) {
    return this.leases.release(name, token);
  }

  readLease(name: string) {
    return this.leases.read(name);
  }

  async sweep(prefix: string, olderThanMs: number): Promise<SweepReport> {
    const before = Date.now() - olderThanMs;
    const report: SweepReport = { temporary: 0, directories: 0, leases: 0 };
    const top = prefix === '' ? this.root : this.path(prefix);
    await this.sweepDir(top, before, report, top);
    if (prefix === '') report.leases = await this.leases.sweep(olderThanMs);
    return report;
  }

  /** `.tmp-*` files older than `before`, then directories left empty (older than `before`). */
  private async sweepDir(dir: string, before: number, report: SweepReport, top: string): Promise<void> {
    // Its age before this sweep removed anything in it (a put that races a removal retries).
    const own = await lstat(dir).catch(() => undefined);
    let dirents: Dirent[];
    try {
      dirents = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const dirent of dirents) {
      const path = join(dir, dirent.name);
      if (dirent.isDirectory()) {
        if (dir === this.root && dirent.name === '.leases') continue;
        if (isKeySegment(dirent.name)) await this.sweepDir(path, before, report, top);
      } else if (dirent.name.startsWith('.tmp-')) {
        const info = await lstat(path).catch(() => undefined);
        if (info && info.mtimeMs < before) {
          await rm(path, { force: true });
          report.temporary++;
        }
      }
    }
    if (dir === top) return;
    if (own && own.mtimeMs < before && (await removeEmptyDir(dir).catch(() => false))) {
      report.directories++;
      await syncDir(dirname(dir));
    }
  }

  private path(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  /**
   * Keys in directory `dir` ('' or ending in '/') and below whose name in `dir` starts with
   * `start`, in key order, reading a directory only when the walk reaches it. Sorting each
   * directory by name, with '/' after a directory's name, gives exact key order.
   */
  private async *walk(
    dir: string,
    start: string,
    marker: string | undefined,
    desc: boolean,
  ): AsyncGenerator<string> {
    const listed = await this.entries(dir);
    for (const entry of desc ? [...listed].reverse() : listed) {
      if (!entry.name.startsWith(start)) continue;
      const key = dir + entry.name;
      if (entry.directory) {
        const below = `${key}/`;
        // Skip a directory whose keys all lie on the wrong side of the marker.
        if (marker !== undefined && (desc ? marker <= below : marker > below && !marker.startsWith(below))) {
          continue;
        }
        yield* this.walk(below, '', marker, desc);
      } else if (marker === undefined || (desc ? key < marker : key > marker)) {
        yield key;
      }
    }
  }

  private async entries(dir: string): Promise<readonly Entry[]> {
    const path = dir === '' ? this.root : this.path(dir.slice(0, -1));
    // A stat of a directory the kernel has cached costs a few µs in this thread, less than a
    // round trip to the thread pool; a listing stats a handful.
    let info: ReturnType<typeof statSync>;
    try {
      info = statSync(path, { throwIfNoEntry: false });
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    if (!info) return [];
    const kept = this.listings.get(path);
    if (kept && kept.mtimeMs === info.mtimeMs && kept.ctimeMs === info.ctimeMs && kept.ino === info.ino) {
      // Most recently used last, so the oldest is the first to go.
      this.listings.delete(path);
      this.listings.set(path, kept);
      return kept.entries;
    }
    const entries = await this.readEntries(path);
    this.forget(path);
    if (
      info.isDirectory() &&
      Date.now() - Math.max(info.mtimeMs, info.ctimeMs) > SETTLED_MS &&
      entries.length <= ENTRIES_KEPT / 10
    ) {
      this.listings.set(path, { mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino, entries });
      this.entriesKept += entries.length;
      while (this.entriesKept > ENTRIES_KEPT) this.forget(this.listings.keys().next().value!);
    }
    return entries;
  }

  private forget(path: string): void {
    const kept = this.listings.get(path);
    if (!kept) return;
    this.listings.delete(path);
    this.entriesKept -= kept.entries.length;
  }

  private async readEntries(path: string): Promise<Entry[]> {
    let dirents: Dirent[];
    try {
      dirents = await readdir(path, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    const entries: Entry[] = [];
    for (const dirent of dirents) {
      if (!isKeySegment(dirent.name)) continue;
      let directory = dirent.isDirectory();
      if (!directory && !dirent.isFile()) {
        // Some filesystems leave the type out of a listing; symlinks and the like are not keys.
        const info = await lstat(join(path, dirent.name)).catch(() => undefined);
        if (!info || !(info.isFile() || info.isDirectory())) continue;
        directory = info.isDirectory();
      }
      entries.push({ name: dirent.name, directory, order: directory ? `${dirent.name}/` : dirent.name });
    }
    return entries.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  }

  private async createTemp(key: string, dir: string) {
    for (let attempt = 0; ; attempt++) {
      const tmp = join(dir, tempName());
      try {
        await this.makeDirs(key, dir);
        return { tmp, handle: await open(tmp, 'wx') };
      } catch (error) {
        // A delete may have removed a directory, then empty, while it was being made or used.
        if (!isCode(error, 'ENOENT') || attempt >= RETRIES) throw error;
      }
    }
  }

  private async makeDirs(key: string, dir: string): Promise<void> {
    let created: string | undefined;
    try {
      created = await mkdir(dir, { recursive: true });
    } catch (error) {
      if (!isCode(error, 'ENOTDIR', 'EEXIST')) throw error;
      throw keyConflict(key, (await this.objectAbove(key)) ?? key);
    }
    if (created === undefined) return;
    for (let made = dir; ; made = dirname(made)) {
      await syncDir(dirname(made));
      if (made === created || made === dirname(made)) break;
    }
  }

  private async moveInto(key: string, tmp: string, target: string): Promise<void> {
    try {
      await rename(tmp, target);
    } catch (error) {
      if (!(await isDirectory(target))) throw error;
      if (!(await removeEmptyDir(target))) throw keyConflict(key, key);
      await rename(tmp, target);
    }
  }

  /** The key above `key` that is an object, if any. */
  private async objectAbove(key: string): Promise<string | undefined> {
    for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1)) {
      const above = key.slice(0, i);
      const info = await lstat(this.path(above)).catch(() => undefined);
      if (info?.isFile()) return above;
    }
    return undefined;
  }

  /** Removes `dir` and its ancestors below the root while they are empty (best effort). */
  private async prune(dir: string): Promise<void> {
    let current = dir;
    while (current.startsWith(this.root + sep)) {
      try {
        await rmdir(current);
      } catch {
        break;
      }
      current = dirname(current);
    }
    await syncDir(current);
  }
}

function isMissing(error: unknown): boolean {
  return isCode(error, 'ENOENT', 'ENOTDIR', 'EISDIR');
}

async function isDirectory(path: string): Promise<boolean> {
  const info = await lstat(path).catch(() => undefined);
  return info?.isDirectory() ?? false;
}

/** True if `path` was an empty directory (an empty directory is not a key) and is gone. */
async function removeEmptyDir(path: string): Promise<boolean> {
  try {
    await rmdir(path);
    return true;
  } catch (error) {
    if (isCode(error, 'ENOENT')) return true;
    if (isCode(error, 'ENOTEMPTY', 'EEXIST')) return false;
    throw error;
  }
}

/**
 * A file read front to back into two buffers that the pieces take turns in (`Bank.getPieces`):
 * a restore reads its packs with no new 1 MiB buffer per read, external memory that started a
 * full collection of the main thread's heap each time 64 MiB of it had been made. The next
 * read runs while the reader uses a piece, as a stream's would: it fills the other buffer,
 * the one whose piece the reader was done with when it asked for this one.
 */
class FilePieces implements Pieces {
  private closed = false;

  constructor(private readonly handle: FileHandle) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    let filling = Buffer.allocUnsafeSlow(READ_CHUNK);
    let spare = Buffer.allocUnsafeSlow(READ_CHUNK);
    let position = 0;
    let reading = this.handle.read(filling, 0, READ_CHUNK, 0);
    try {
      for (;;) {
        const { bytesRead } = await reading;
        if (bytesRead === 0) return;
        const piece = filling.subarray(0, bytesRead);
        position += bytesRead;
        [filling, spare] = [spare, filling];
        reading = this.handle.read(filling, 0, READ_CHUNK, position);
        yield piece;
      }
    } finally {
      // A reader that stopped early leaves a read in flight: its failure is no one's.
      reading.catch(() => {});
      this.destroy();
    }
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close().catch(() => {});
  }
}
