import { randomInt } from 'node:crypto';
import type { Bank } from '../bank/index.js';
import { HoardError } from '../errors.js';
import {
  DAMAGED,
  INDEX,
  indexKey,
  ofDamagedKey,
  PACKS,
  packKey,
  packOfIndexKey,
  packOfPackKey,
} from './keys.js';
import { mapLimit } from './map-limit.js';
import {
  type BlobEntry,
  decodeEntry,
  decodeIndex,
  ENTRY_SIZE,
  encodeEntries,
  type PackIndex,
  packSize,
  readPackEntries,
} from './pack.js';

export { mapLimit };

/** Where a blob is: its pack and its entry there. */
export interface Location extends BlobEntry {
  pack: string;
}

/** The last byte of an index object in the JSON form (`}`); the binary form ends with the pack magic. */
const JSON_END = 0x7d;

/** Index objects read at once while loading. */
const READ_CONCURRENCY = 16;

/** A pack's entries as its tail records them (pack.ts: 48 bytes a blob), and the pack's size. */
interface PackRecord {
  pack: string;
  entries: Buffer;
  size: number;
}

const ID = /^[0-9a-f]{64}$/;

/** Slots of an empty table (a power of 2); it doubles whenever it would be more than half full. */
const FIRST_SLOTS = 1024;

/**
 * Every index object of the store merged into one map from blob id to location. Loading is
 * incremental: a refresh lists `index/`, reads only the objects it has not read, and forgets
 * packs whose index has gone (a prune removed them). Copies of blobs recorded as damaged
 * (`damaged/<pack>/<blob>`) are left out of the map: the store neither offers them for
 * deduplication nor reads them, so the next protect writes such a blob again.
 *
 * Each blob is held once, compactly: its pack's 48-byte entry (the binary index's own form),
 * and a slot in an open-addressing table keyed by the id's first bytes (ids are hashes, so
 * uniform) — ~64 bytes a blob, where a Map of entry objects took ~500. `get` makes the
 * `Location` it returns.
 */
export class BlobIndex {
  private readonly packs = new Map<string, PackRecord>();
  /** The packs in the table, by ordinal (a slot's pack is its ordinal + 1). */
  private ordinals: PackRecord[] = [];
  /** Pairs (pack ordinal + 1, entry number); 0 marks an empty slot. Length a power of 2, twice the slots. */
  private slots = new Int32Array(2 * FIRST_SLOTS);
  private count = 0;
  /** 32 less the bits of a slot number: `slots` holds 2 ** (32 - shift) slots. */
  private shift = 32 - Math.log2(FIRST_SLOTS);
  private readonly salt = randomInt(2 ** 32 - 1);
  /** The id looked up, in binary. */
  private readonly key = Buffer.alloc(32);
  private loadedOnce = false;
  private firstLoad: Promise<void> | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  /** Packs whose index object was damaged, so their entries were read from the pack itself. */
  readonly rebuilt = new Set<string>();
  /**
   * Packs whose index object is in the JSON form (written before 2026-12-07), which their id
   * does not authenticate: prune checks such a pack's own entries before it deletes or rewrites it.
   */
  readonly unchecked = new Set<string>();
  /** Packs whose index object is damaged and whose pack is missing or damaged too: why, per pack. */
  readonly unreadable = new Map<string, string>();
  /** Blob copies known damaged, as `<pack>/<blob>`. */
  private damaged = new Set<string>();
  /** Packs whose index object names a pack the bank does not have (`leaveOutMissingPacks`). */
  private readonly missing = new Set<string>();
  private packsChecked: Promise<void> | undefined;

  constructor(private readonly bank: Bank) {}

  /** Loads the index once; later calls return at once. */
  async ensureLoaded(): Promise<void> {
    if (this.loadedOnce) return;
    this.firstLoad ??= this.refresh().finally(() => {
      this.firstLoad = undefined;
    });
    await this.firstLoad;
  }

  /**
   * Reads what changed since the last load. Each call lists anew, after any refresh in flight.
   * `fromBank`: read every index object again from the bank itself, not from what this process
   * holds or this machine's cache keeps (bank/cache.ts): what a check of the repository needs.
   */
  refresh(options: { fromBank?: boolean } = {}): Promise<void> {
    const next = this.refreshing.catch(() => {}).then(() => this.load(options.fromBank === true));
    this.refreshing = next;
    return next;
  }

  get(id: string): Location | undefined {
    const slot = this.slotOf(id);
    if (slot < 0) return undefined;
    const record = this.ordinals[this.slots[slot]! - 1]!;
    return { ...decodeEntry(record.entries, this.slots[slot + 1]!, id), pack: record.pack };
  }

  has(id: string): boolean {
    return this.slotOf(id) >= 0;
  }

  /** The slot holding blob `id`, or -1. */
  private slotOf(id: string): number {
    if (!ID.test(id)) return -1;
    this.key.write(id, 'hex');
    const slot = this.find(this.key, 0);
    return this.slots[slot] === 0 ? -1 : slot;
  }

  /** A pack's index (its entries made anew at each call), if the index has it. */
  pack(pack: string): PackIndex | undefined {
    const record = this.packs.get(pack);
    if (record === undefined) return undefined;
    const blobs: BlobEntry[] = [];
    for (let i = 0; i < record.entries.length / ENTRY_SIZE; i++) blobs.push(decodeEntry(record.entries, i));
    return { version: 1, pack, blobs };
  }

  /** The size of a pack the index has (`packSize`). */
  packSize(pack: string): number | undefined {
    return this.packs.get(pack)?.size;
  }

  packIds(): string[] {
    return [...this.packs.keys()];
  }

  /**
   * Once per index: lists the packs and leaves out of the map the blobs of every pack the
   * loaded index names that is not stored (its index object outlived it: damage, or a prune
   * cut short), so that no writer dedups against them and a checkpoint referring to them is
   * not proven (docs/store-format.md, "An index naming a missing pack"). Packs indexed later
   * are not judged: each pack is stored before its index object.
   */
  leaveOutMissingPacks(): Promise<void> {
    this.packsChecked ??= (async () => {
      await this.ensureLoaded();
      const stored = new Set<string>();
      for (const key of await this.bank.list(PACKS)) {
        const pack = packOfPackKey(key);
        if (pack !== undefined) stored.add(pack);
      }
      for (const pack of this.packs.keys()) if (!stored.has(pack)) this.missing.add(pack);
      if (this.missing.size > 0) this.reindex();
    })().catch((error: unknown) => {
      this.packsChecked = undefined;
      throw error;
    });
    return this.packsChecked;
  }

  /** Records a pack whose index object this process has just stored (after the pack: it is there). */
  add(index: PackIndex): void {
    this.missing.delete(index.pack);
    this.unchecked.delete(index.pack);
    this.insert(index);
  }

  private insert(index: PackIndex): void {
    const record = { pack: index.pack, entries: encodeEntries(index.blobs), size: packSize(index.blobs) };
    this.packs.set(index.pack, record);
    this.place(record);
  }

  /** Puts a pack's blobs in the table, but those already there (from an earlier pack) or damaged. */
  private place(record: PackRecord): void {
    if (this.missing.has(record.pack)) return;
    const ordinal = this.ordinals.push(record);
    const { entries } = record;
    for (let i = 0; i < entries.length / ENTRY_SIZE; i++) {
      if (2 * (this.count + 1) > this.slots.length / 2) this.grow();
      const at = i * ENTRY_SIZE;
      const slot = this.find(entries, at);
      if (this.slots[slot] !== 0) continue;
      if (this.damaged.size > 0 && this.isDamaged(record.pack, entries.toString('hex', at, at + 32)))
        continue;
      this.slots[slot] = ordinal;
      this.slots[slot + 1] = i;
      this.count++;
    }
  }

  /** The slot (its index in `slots`) holding the 32-byte id at `id[at]`, or the empty one where it would go. */
  private find(id: Buffer, at: number): number {
    const mask = this.slots.length / 2 - 1;
    for (let n = this.home(id, at); ; n = (n + 1) & mask) {
      const slot = 2 * n;
      const ordinal = this.slots[slot]!;
      if (ordinal === 0) return slot;
      const entries = this.ordinals[ordinal - 1]!.entries;
      const other = this.slots[slot + 1]! * ENTRY_SIZE;
      if (id.compare(entries, other, other + 32, at, at + 32) === 0) return slot;
    }
  }

  /**
   * The first slot number to try for the id at `id[at]`: the top bits of its first four bytes,
   * salted and multiplied, so they depend on all 32 (ids that share their low bits, which
   * crafted file contents could make, still spread) and no id's slot can be chosen in advance.
   */
  private home(id: Buffer, at: number): number {
    return Math.imul(id.readUInt32BE(at) ^ this.salt, 0x9e3779b1) >>> this.shift;
  }

  /** Doubles the table; the slots keep what they hold (which pack's copy of a blob won). */
  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    this.shift--;
    const mask = this.slots.length / 2 - 1;
    for (let slot = 0; slot < old.length; slot += 2) {
      if (old[slot] === 0) continue;
      const entries = this.ordinals[old[slot]! - 1]!.entries;
      let n = this.home(entries, old[slot + 1]! * ENTRY_SIZE);
      while (this.slots[2 * n] !== 0) n = (n + 1) & mask;
      this.slots[2 * n] = old[slot]!;
      this.slots[2 * n + 1] = old[slot + 1]!;
    }
  }

  /** True if that copy of the blob is recorded as damaged. */
  isDamaged(pack: string, blob: string): boolean {
    return this.damaged.has(`${pack}/${blob}`);
  }

  /** The damaged copies recorded, by pack. */
  damagedCopies(): Map<string, string[]> {
    const byPack = new Map<string, string[]>();
    for (const copy of this.damaged) {
      const [pack, blob] = copy.split('/') as [string, string];
      byPack.set(pack, [...(byPack.get(pack) ?? []), blob]);
    }
    return byPack;
  }

  /** Takes in damage just recorded (or cleared) by this process. */
  setDamaged(copies: Iterable<{ pack: string; blob: string }>, damaged: boolean): void {
    let changed = false;
    for (const { pack, blob } of copies) {
      const key = `${pack}/${blob}`;
      if (damaged !== this.damaged.has(key)) changed = true;
      if (damaged) this.damaged.add(key);
      else this.damaged.delete(key);
    }
    if (changed) this.reindex();
  }

  /** Forgets packs (a prune removed their index objects). */
  remove(packs: Iterable<string>): void {
    let removed = false;
    for (const pack of packs) {
      this.unchecked.delete(pack);
      removed = this.packs.delete(pack) || removed;
    }
    if (removed) this.reindex();
  }

  stats(): { packs: number; blobs: number; bytes: number } {
    let bytes = 0;
    for (const record of this.packs.values()) bytes += record.size;
    return { packs: this.packs.size, blobs: this.count, bytes };
  }

  private async load(fromBank: boolean): Promise<void> {
    const present = new Set<string>();
    const toRead: string[] = [];
    for (const key of await this.bank.list(INDEX)) {
      const pack = packOfIndexKey(key);
      if (pack === undefined) continue;
      present.add(pack);
      if (fromBank || !this.packs.has(pack)) toRead.push(pack);
    }
    const damaged = new Set<string>();
    for (const key of await this.bank.list(DAMAGED)) {
      const copy = ofDamagedKey(key);
      if (copy) damaged.add(`${copy.pack}/${copy.blob}`);
    }
    const damageChanged =
      damaged.size !== this.damaged.size || [...damaged].some((c) => !this.damaged.has(c));
    this.damaged = damaged;
    if (damageChanged) this.reindex();
    const gone = [...this.packs.keys()].filter((pack) => !present.has(pack));
    for (const pack of this.unreadable.keys()) if (!present.has(pack)) this.unreadable.delete(pack);
    if (fromBank) this.rebuilt.clear();
    const read = await mapLimit(toRead, READ_CONCURRENCY, (pack) => this.readIndex(pack, !fromBank));
    // Each pack as the bank has it now (one that could not be read is left out).
    if (fromBank) this.remove(toRead);
    for (const index of read) if (index) this.insert(index);
    this.remove(gone);
    this.loadedOnce = true;
  }

  /**
   * One index object; a damaged one is rebuilt from its pack's trailer, or skipped (and kept in
   * `unreadable`) if that fails too, so that one bad object does not stop every restore.
   * Undefined if it vanished while being read. `cached`: this machine's copy will do; if that
   * copy does not open, the bank's is read before the object is called damaged.
   */
  private async readIndex(pack: string, cached: boolean): Promise<PackIndex | undefined> {
    if (cached) {
      try {
        return this.decode(pack, await this.bank.get(indexKey(pack), { cached: true }));
      } catch {
        // Gone, unreadable or damaged: the bank's answer below is the one that counts.
      }
    }
    const key = indexKey(pack);
    let bytes: Buffer | undefined;
    let unauthentic: HoardError | undefined;
    try {
      bytes = await this.bank.get(key);
    } catch (error) {
      if (error instanceof HoardError && error.code === 'BANK_NOT_FOUND') return undefined;
      // Encrypted, and it fails authentication: damaged like an index that does not parse.
      if (!(error instanceof HoardError && error.code === 'BANK_OBJECT_CORRUPT')) throw error;
      unauthentic = error;
    }
    try {
      if (unauthentic) throw unauthentic;
      const index = this.decode(pack, bytes!);
      this.unreadable.delete(pack);
      return index;
    } catch (damage) {
      let why: string;
      try {
        const blobs = readPackEntries(pack, await this.bank.get(packKey(pack)));
        this.rebuilt.add(pack);
        this.unchecked.delete(pack);
        this.unreadable.delete(pack);
        return { version: 1, pack, blobs };
      } catch (error) {
        if (!(error instanceof HoardError)) throw error;
        why = error.code === 'BANK_NOT_FOUND' ? 'its pack is missing' : error.message;
      }
      this.unreadable.set(pack, `${(damage as Error).message}, and it cannot be rebuilt: ${why}`);
      return undefined;
    }
  }

  /** An index object's entries; notes whether its pack id vouches for them (`unchecked`). */
  private decode(pack: string, bytes: Buffer): PackIndex {
    const index = decodeIndex(indexKey(pack), pack, bytes);
    if (bytes.at(-1) === JSON_END) this.unchecked.add(pack);
    else this.unchecked.delete(pack);
    return index;
  }

  private reindex(): void {
    this.slots = new Int32Array(2 * FIRST_SLOTS);
    this.shift = 32 - Math.log2(FIRST_SLOTS);
    this.ordinals = [];
    this.count = 0;
    for (const record of this.packs.values()) this.place(record);
  }
}
