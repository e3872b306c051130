/**
 * This machine's copy of a remote bank's content-store index objects (`store/index/<pack>.json`),
 * which every run reads whole before it can deduplicate: on S3 that was one GET per pack at the
 * start of every protect. restic keeps the same cache, for the same reason.
 *
 * What makes it safe:
 * - An index object never changes once stored (its name is its pack's id; a repair that
 *   rebuilds one writes the same entries). The bank's listing, not the cache, says which
 *   objects exist: a cached copy of an object that is gone is never read, and is removed at
 *   the next full listing of `store/index/`.
 * - The copy is of the bytes as stored, so in an encrypted bank it is sealed, and opened and
 *   authenticated above this layer exactly as a fresh read would be.
 * - Each file starts with the SHA-256 of the rest: a copy damaged on this disk is dropped and
 *   read again from the bank, never taken for the bank's damage.
 * - A read uses the copy only when its caller asks (`ReadOptions.cached`): loading the index
 *   does; a check of the repository does not, so damage in the bank is not hidden by a good
 *   copy here. Every read from the bank refreshes the copy.
 * - Writing the cache is best effort (a full or read-only disk costs speed, not a run); files
 *   are written to a temporary name and renamed, so a crash leaves no torn copy.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  type BankStore,
  type CallOptions,
  ObjectsDecorator,
  type ReadOptions,
  type StoreData,
  type StoreListOptions,
} from './store.js';
import { type ObjectInfo, Parts, type Pieces } from './types.js';

const INDEX_PREFIX = 'store/index/';
const CACHEABLE = /^store\/index\/([0-9a-f]{64})\.json$/;
const HASH = 32;

export class CachingStore extends ObjectsDecorator implements BankStore {
  private ready: Promise<boolean> | undefined;

  /** `dir`: this bank's cache folder (made on first use). */
  constructor(
    inner: BankStore,
    private readonly dir: string,
  ) {
    super(inner);
  }

  async put(key: string, data: StoreData, call?: CallOptions): Promise<void> {
    await this.inner.put(key, data, call);
    const name = cacheName(key);
    if (name === undefined) return;
    // Kept only when the bytes are at hand (an index object is one buffer); copied before
    // returning, since the caller may reuse them once the put has resolved.
    const bytes = Buffer.isBuffer(data)
      ? data
      : data instanceof Parts
        ? Buffer.concat(data.pieces)
        : undefined;
    if (bytes !== undefined) await this.keep(name, bytes);
  }

  async get(key: string, options?: ReadOptions): Promise<Buffer | undefined> {
    const name = cacheName(key);
    if (name === undefined) return this.inner.get(key, options);
    if (options?.cached) {
      const kept = await this.recall(name);
      if (kept !== undefined) return kept;
    }
    const bytes = await this.inner.get(key, options);
    if (bytes === undefined) await this.forget(name);
    else await this.keep(name, bytes);
    return bytes;
  }

  getStream(key: string, call?: CallOptions): Promise<Readable | undefined> {
    return this.inner.getStream(key, call);
  }

  getPieces(key: string, call?: CallOptions): Promise<Pieces | undefined> {
    return this.inner.getPieces ? this.inner.getPieces(key, call) : this.inner.getStream(key, call);
  }

  getRange(key: string, offset: number, length: number, call?: CallOptions): Promise<Buffer | undefined> {
    return this.inner.getRange(key, offset, length, call);
  }

  head(key: string, call?: CallOptions): Promise<ObjectInfo | undefined> {
    return this.inner.head(key, call);
  }

  async delete(key: string, call?: CallOptions): Promise<void> {
    const name = cacheName(key);
    if (name !== undefined) await this.forget(name);
    await this.inner.delete(key, call);
  }

  async list(prefix: string, options: StoreListOptions): Promise<string[]> {
    const keys = await this.inner.list(prefix, options);
    // A whole listing of the index says which copies are of objects that are gone.
    if (
      prefix === INDEX_PREFIX &&
      options.marker === undefined &&
      options.limit === Number.POSITIVE_INFINITY
    ) {
      await this.sweepGone(new Set(keys.map(cacheName)));
    }
    return keys;
  }

  /** The cached bytes, or undefined (none, or damaged here: then removed). */
  private async recall(name: string): Promise<Buffer | undefined> {
    const file = await readFile(join(this.dir, name)).catch(() => undefined);
    if (file === undefined) return undefined;
    const bytes = file.subarray(HASH);
    if (file.length >= HASH && sha256(bytes).equals(file.subarray(0, HASH))) return bytes;
    await this.forget(name);
    return undefined;
  }

  private async keep(name: string, bytes: Buffer): Promise<void> {
    if (!(await this.made())) return;
    const temp = join(this.dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, Buffer.concat([sha256(bytes), bytes]), { mode: 0o600 });
      await rename(temp, join(this.dir, name));
    } catch {
      await rm(temp, { force: true }).catch(() => {});
    }
  }

  private async forget(name: string): Promise<void> {
    await rm(join(this.dir, name), { force: true }).catch(() => {});
  }

  private async sweepGone(listed: Set<string | undefined>): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) {
      // Temporary files of a run that died: left to whoever finds them older than a minute
      // would be kinder to a concurrent run, but a rename of a removed temporary file only
      // fails that run's caching, never its result.
      if (name.startsWith('.') || !listed.has(name)) await this.forget(name);
    }
  }

  private made(): Promise<boolean> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(
      () => true,
      () => false,
    );
    return this.ready;
  }
}

/** The cache file of a key, or undefined if the key is not one the cache keeps. */
function cacheName(key: string): string | undefined {
  const pack = CACHEABLE.exec(key)?.[1];
  return pack === undefined ? undefined : `${pack}.json`;
}

function sha256(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}
