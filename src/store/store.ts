import { Readable } from 'node:stream';
import type { Bank } from '../bank/index.js';
import { HoardError } from '../errors.js';
import { type BatchOptions, type BlobBatch, readBatches } from './batches.js';
import { BlobIndex, type Location } from './blob-index.js';
import { type CheckOptions, type CheckReport, checkStore, recordDamage } from './check.js';
import { gearTable } from './chunker.js';
import { packKey } from './keys.js';
import { SharedLease } from './leases.js';
import { type CompressionMode, type ResolvedOptions, resolveOptions, type StoreOptions } from './options.js';
import { type PackIndex, readPackEntries } from './pack.js';
import { type PruneOptions, type PruneReport, prune, type References } from './prune.js';
import { BlobReader, checkId } from './reader.js';
import { type StoreWriter, Writer } from './writer.js';

/**
 * The content-addressed, deduplicating store that file plugins write into a bank: content is
 * cut into chunks (blobs) named by their SHA-256, packed, and indexed. Format and protocol:
 * docs/store-format.md. Several processes may share one store; each opens its own.
 */
export class ContentStore {
  private readonly bank: Bank;
  private readonly options: ResolvedOptions;
  private readonly index: BlobIndex;
  private readonly reader: BlobReader;
  /** The shared lease of `holdAs`, once taken. */
  private held: Promise<SharedLease> | undefined;

  /** The store lives under `store/` of `bank` (the provider's whole bank, not a checkpoint section). */
  constructor(bank: Bank, options?: StoreOptions) {
    this.bank = bank.section('store');
    this.options = resolveOptions(options);
    this.index = new BlobIndex(this.bank);
    this.reader = new BlobReader(this.bank, this.index, this.options.cacheSize, this.options.naming);
  }

  /**
   * How this store cuts, names and encodes content, for code that does it elsewhere (worker
   * threads): the gear table for `chunkSizes`, and in an encrypted bank the id key for
   * `blobId`. For a writer: in an empty encrypted bank, this makes the repository's keys.
   */
  async encoding(): Promise<{
    averageChunkSize: number;
    compression: CompressionMode;
    gear: Int32Array;
    idKey?: Buffer;
  }> {
    await this.loadNaming(true);
    const { idKey, gear } = this.options.naming;
    return {
      averageChunkSize: this.options.averageChunkSize,
      compression: this.options.compression,
      gear,
      ...(idKey ? { idKey } : {}),
    };
  }

  /** Reads the bank's content keys once (encrypted banks): blob ids and chunking depend on them. */
  private async loadNaming(create: boolean): Promise<void> {
    if (this.options.naming.idKey !== undefined) return;
    const keys = await this.bank.contentKeys({ create });
    if (keys === undefined) return;
    // Mutated in place: the reader and writers share this object.
    this.options.naming.idKey = keys.idKey;
    this.options.naming.gear = gearTable(keys.chunkerSeed);
  }

  /**
   * Takes the shared lease of `holdAs` unless it is held (waiting for a running prune, up to
   * `waitMs`). Every method that reads or writes blobs calls it first.
   */
  private async ready(): Promise<void> {
    await this.loadNaming(false);
    const owner = this.options.holdAs;
    if (owner === undefined) return;
    this.held ??= SharedLease.acquire(this.bank, owner, this.leaseSettings()).catch((error: unknown) => {
      this.held = undefined;
      throw error;
    });
    await this.held;
  }

  /**
   * Takes the shared lease of `holdAs` now, before any blob is touched (waiting for a running
   * prune, up to `waitMs`): an operation whose agents write into the store holds it from
   * before its first dispatch. Without `holdAs`, nothing.
   */
  async hold(): Promise<void> {
    await this.ready();
  }

  /**
   * With `holdAs`: renews the shared lease now and says whether one is held; LEASE_LOST if it
   * was lost (a prune may have run since the store was first used). Without: false.
   */
  async confirmHeld(): Promise<boolean> {
    if (this.held === undefined) return false;
    await (await this.held).kept.confirm();
    return true;
  }

  /** Gives up the shared lease of `holdAs`, if taken. Using the store afterwards takes it again. */
  async release(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    if (held) await (await held.catch(() => undefined))?.end();
  }

  private leaseSettings() {
    const { leaseTtlMs: ttlMs, now, waitMs, onWait } = this.options;
    return { ttlMs, now, waitMs, ...(onWait ? { onWait } : {}) };
  }

  /**
   * For a protect: takes a shared writer lease (many writers at once are fine), waiting up to
   * `waitMs` while a prune holds the store, then STORE_BUSY. Loads the index, after the lease,
   * so no prune can have removed a blob that the writer then dedups against.
   */
  async openWriter(owner: string, options: { signal?: AbortSignal } = {}): Promise<StoreWriter> {
    if (typeof owner !== 'string' || owner === '') {
      throw new HoardError('STORE_ARGUMENT_INVALID', 'a content store writer needs a non-empty owner');
    }
    await this.ready();
    await this.loadNaming(true);
    // Inside an operation that holds the store's shared lease (`holdAs`), the writer shares it:
    // a second lease and marker would tell a prune nothing more (S3: 7 requests fewer).
    const held = this.held && (await this.held);
    const lease = held ? held.borrow() : await SharedLease.acquire(this.bank, owner, this.leaseSettings());
    try {
      await this.index.refresh();
      await this.index.leaveOutMissingPacks();
    } catch (error) {
      await lease.end().catch(() => {});
      throw error;
    }
    // The signal cancels the writer's uploads; its lease is still renewed and given back.
    const bank = options.signal ? this.bank.withSignal(options.signal) : this.bank;
    return new Writer(bank, this.index, this.options, lease);
  }

  /** One blob's bytes, hash-checked; STORE_CORRUPT naming blob and pack if damaged or missing. */
  async readBlob(id: string): Promise<Buffer> {
    await this.ready();
    return this.reader.readBlob(id);
  }

  /** The concatenation of blobs (a file's content) as a stream, memory bounded to a few blobs (plus the pack cache). */
  readBlobs(ids: readonly string[]): Readable {
    return Readable.from(this.readBlobsIterable(ids), { objectMode: false });
  }

  /** The blobs' raw bytes one after another, each hash-checked, without the stream machinery of readBlobs(). */
  async *readBlobsIterable(ids: readonly string[]): AsyncIterable<Buffer> {
    await this.ready();
    yield* this.reader.blobs(ids);
  }

  /**
   * Where each blob is (pack, offset, stored and raw length, compression), looking at the
   * bank's index objects again once if some are unknown; STORE_CORRUPT naming the first blob
   * the store does not have.
   */
  async locate(ids: Iterable<string>): Promise<Map<string, Location>> {
    const wanted = [...new Set(ids)];
    for (const id of wanted) checkId(id);
    await this.ready();
    await this.index.ensureLoaded();
    if (wanted.some((id) => !this.index.has(id))) await this.index.refresh();
    const found = new Map<string, Location>();
    for (const id of wanted) {
      const location = this.index.get(id);
      if (location === undefined) {
        throw new HoardError('STORE_CORRUPT', `blob ${id} is not in the content store's index`, {
          details: { blob: id },
        });
      }
      found.set(id, location);
    }
    return found;
  }

  /**
   * The stored bytes of many blobs, each distinct one once, in batches of shared memory for
   * worker threads to decode and check with `decodeBlobSync`; each pack is read once.
   * Memory: one batch being filled plus the batches the caller holds.
   */
  async *readBatches(locations: Iterable<Location>, options?: BatchOptions): AsyncGenerator<BlobBatch> {
    await this.ready();
    const idKey = this.options.naming.idKey;
    const bank = options?.signal ? this.bank.withSignal(options.signal) : this.bank;
    const ahead = { readAhead: this.options.readAhead, ...options };
    for await (const batch of readBatches(bank, this.index, locations, ahead)) {
      yield idKey ? { ...batch, idKey } : batch;
    }
  }

  /**
   * Re-reads and re-hashes one blob: undefined if sound, else a one-line description of the
   * damage. Reads through the pack cache, so checking every blob fetches each pack once.
   */
  async checkBlob(id: string): Promise<string | undefined> {
    await this.ready();
    try {
      await this.reader.readBlob(id);
      return undefined;
    } catch (error) {
      if (error instanceof HoardError && error.code === 'STORE_CORRUPT') return error.message;
      throw error;
    }
  }

  /**
   * The ids the store does not have (in no index, or only damaged copies), looking at the
   * bank's index objects again once if some are unknown. `storedPacks`, and once a writer was
   * opened on this store: nor blobs whose packs are missing although their index objects are
   * there (a protect's proof, a copy choosing what to send) — a reader leaves that to its read,
   * which records the damage.
   */
  async lacking(ids: Iterable<string>, options: { storedPacks?: boolean } = {}): Promise<Set<string>> {
    await this.ready();
    if (options.storedPacks) await this.index.leaveOutMissingPacks();
    else await this.index.ensureLoaded();
    const unknown = new Set<string>();
    for (const id of ids) if (!this.index.has(id)) unknown.add(id);
    if (unknown.size === 0) return unknown;
    await this.index.refresh();
    for (const id of unknown) if (this.index.has(id)) unknown.delete(id);
    return unknown;
  }

  /** True if the index knows the blob (looking at the bank's index objects again if this process does not). */
  async hasBlob(id: string): Promise<boolean> {
    checkId(id);
    await this.ready();
    await this.index.ensureLoaded();
    if (this.index.has(id)) return true;
    await this.index.refresh();
    return this.index.has(id);
  }

  /**
   * Garbage collection: takes the exclusive prune lease (STORE_BUSY while any shared lease is
   * live: an open writer, an operation using the store), then asks `references` for every
   * blob to keep, then removes every pack none of whose blobs is referenced (and packs
   * without an index), and rewrites packs that are mostly unreferenced; never removes a
   * referenced blob. dryRun takes no lease and changes nothing. Not for a store with `holdAs`.
   */
  async prune(references: References, options: PruneOptions): Promise<PruneReport> {
    await this.loadNaming(false);
    return prune(this.bank, this.index, this.options, references, options);
  }

  /**
   * Records copies of blobs that a reader found damaged (a verify or restore), so that the
   * store stops offering them: the next protect writes such a blob again, readers take
   * another copy, `repair` drops them. With `holdAs`, only while its shared lease is held
   * (a pack missing because a prune moved it is not damage; no prune runs while it is held):
   * false, and nothing recorded, if the lease was lost. Copies with no pack are not recorded.
   */
  async recordDamage(
    copies: readonly { id: string; pack?: string; problem: string }[],
    by: string,
  ): Promise<boolean> {
    const named = copies.flatMap((c) => (c.pack ? [{ pack: c.pack, blob: c.id, problem: c.problem }] : []));
    if (named.length === 0) return true;
    if (this.options.holdAs !== undefined) {
      try {
        if (!(await this.confirmHeld())) return false;
      } catch {
        return false;
      }
    }
    await recordDamage(this.bank, this.index, named, by);
    return true;
  }

  /**
   * Reads back every pack and checks every blob (restic's `check --read-data`), records what
   * is damaged and clears records of copies sound again. Takes the shared lease of `holdAs`
   * first, if set (so no prune runs meanwhile).
   */
  async check(options?: CheckOptions): Promise<CheckReport> {
    await this.ready();
    return checkStore(this.bank, this.index, options, this.options.naming.idKey);
  }

  /** Packs and distinct blobs the index knows, and the bytes of those packs. */
  async stats(): Promise<{ packs: number; blobs: number; bytes: number }> {
    await this.ready();
    await this.index.refresh();
    return this.index.stats();
  }

  /** The index of a pack as rebuilt from the pack alone (its entries and trailer); STORE_CORRUPT if they are damaged. */
  async rebuildIndex(pack: string): Promise<PackIndex> {
    checkId(pack);
    await this.ready();
    let bytes: Buffer;
    try {
      bytes = await this.bank.get(packKey(pack));
    } catch (error) {
      if (!(error instanceof HoardError && error.code === 'BANK_NOT_FOUND')) throw error;
      throw new HoardError('STORE_CORRUPT', `pack ${pack} is missing from the bank`, {
        details: { pack },
        cause: error,
      });
    }
    return { version: 1, pack, blobs: readPackEntries(pack, bytes) };
  }
}
