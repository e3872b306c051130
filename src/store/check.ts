/**
 * Reading the whole store back (restic's `check --read-data`): every pack, its trailer, and
 * every blob in it against its id; every index object against its pack. What is damaged is
 * recorded as damage (docs/store-format.md, "Damage"), and records of copies found sound
 * again are removed, so the store's view of damage is as fresh as this check.
 */
import type { Bank } from '../bank/index.js';
import { HoardError } from '../errors.js';
import { decodeBlob } from './blob.js';
import type { BlobIndex } from './blob-index.js';
import {
  DAMAGED,
  damagedKey,
  INDEX,
  ofDamagedKey,
  PACKS,
  packKey,
  packOfIndexKey,
  packOfPackKey,
} from './keys.js';
import { type BlobEntry, readPackEntries } from './pack.js';

export interface DamagedCopy {
  pack: string;
  blob: string;
  problem: string;
}

export interface CheckReport {
  /** Packs read, and their bytes. */
  packs: number;
  bytes: number;
  /** Blob copies read and found sound. */
  blobsSound: number;
  /** Blob copies damaged: in a pack that is missing, cut short, or holds wrong bytes. */
  damaged: DamagedCopy[];
  /** Blob ids with damaged copies and no sound one anywhere in the store, sorted. */
  damagedOnly: string[];
  /** Packs whose trailer is damaged and that no index object describes: nothing in them can be named. */
  unreadable: string[];
  /** Damage records removed because the copy they name is sound, or its pack is gone with its index. */
  cleared: number;
}

export interface CheckOptions {
  /** Record what is damaged and clear records of copies found sound (default true); false changes nothing. */
  record?: boolean;
  /** Told after each pack: bytes read so far, of how many. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export async function checkStore(
  bank: Bank,
  index: BlobIndex,
  options: CheckOptions = {},
  idKey?: Uint8Array,
): Promise<CheckReport> {
  // The bank's own index objects, not this machine's copies: damage there must show.
  await index.refresh({ fromBank: true });
  const report: CheckReport = {
    packs: 0,
    bytes: 0,
    blobsSound: 0,
    damaged: [],
    damagedOnly: [],
    unreadable: [],
    cleared: 0,
  };
  const soundIds = new Set<string>();
  const stored = new Map<string, number>();
  for (const key of await bank.list(PACKS)) {
    const pack = packOfPackKey(key);
    if (pack === undefined) continue;
    stored.set(pack, (await bank.head(key))?.size ?? 0);
  }
  const indexed = new Set<string>();
  for (const key of await bank.list(INDEX)) {
    const pack = packOfIndexKey(key);
    if (pack !== undefined) indexed.add(pack);
  }
  const total = [...stored.values()].reduce((n, size) => n + size, 0);
  const sound = new Set<string>();
  const damage = (pack: string, blobs: readonly BlobEntry[], problem: string) => {
    for (const b of blobs) report.damaged.push({ pack, blob: b.id, problem });
  };

  // Index objects whose pack is gone: every blob they name is a damaged copy.
  for (const pack of [...indexed].sort()) {
    if (stored.has(pack)) continue;
    damage(pack, index.pack(pack)?.blobs ?? [], `pack ${pack} is missing from the bank`);
  }
  for (const pack of [...stored.keys()].sort()) {
    options.signal?.throwIfAborted();
    let bytes: Buffer;
    try {
      bytes = await bank.get(packKey(pack));
    } catch (error) {
      if (error instanceof HoardError && error.code === 'BANK_OBJECT_CORRUPT') {
        // Encrypted, and it fails authentication: none of it can be trusted.
        const known = index.pack(pack)?.blobs;
        if (known === undefined) report.unreadable.push(pack);
        else damage(pack, known, error.message);
        continue;
      }
      if (!(error instanceof HoardError && error.code === 'BANK_NOT_FOUND')) throw error;
      continue; // removed since it was listed (by nothing but another repair: a prune cannot run meanwhile)
    }
    report.packs++;
    report.bytes += bytes.length;
    let entries: BlobEntry[];
    try {
      entries = readPackEntries(pack, bytes);
    } catch (error) {
      if (!(error instanceof HoardError && error.code === 'STORE_CORRUPT')) throw error;
      // The trailer is damaged: what the index says was in it is what is lost.
      const known = index.pack(pack)?.blobs;
      if (known === undefined) report.unreadable.push(pack);
      else damage(pack, known, error.message);
      options.onProgress?.(report.bytes, total);
      continue;
    }
    for (const entry of entries) {
      const slice = bytes.subarray(entry.offset, entry.offset + entry.length);
      try {
        await decodeBlob({ ...entry, pack }, slice, idKey);
        sound.add(`${pack}/${entry.id}`);
        soundIds.add(entry.id);
        report.blobsSound++;
      } catch (error) {
        if (!(error instanceof HoardError && error.code === 'STORE_CORRUPT')) throw error;
        damage(pack, [entry], error.message);
      }
    }
    options.onProgress?.(report.bytes, total);
  }

  report.damagedOnly = [...new Set(report.damaged.map((c) => c.blob))]
    .filter((id) => !soundIds.has(id))
    .sort();
  if (options.record === false) return report;
  // Records as fresh as this check: new damage recorded, records of sound or vanished copies removed.
  const foundAt = new Date().toISOString();
  const recorded: { pack: string; blob: string }[] = [];
  for (const copy of report.damaged) {
    await bank.put(
      damagedKey(copy.pack, copy.blob),
      JSON.stringify({ problem: copy.problem, foundAt, by: 'check' }),
    );
    recorded.push(copy);
  }
  const damagedNow = new Set(report.damaged.map((c) => `${c.pack}/${c.blob}`));
  const cleared: { pack: string; blob: string }[] = [];
  for (const key of await bank.list(DAMAGED)) {
    const copy = ofDamagedKey(key);
    if (copy === undefined || damagedNow.has(`${copy.pack}/${copy.blob}`)) continue;
    const gone = !stored.has(copy.pack) && !indexed.has(copy.pack);
    if (sound.has(`${copy.pack}/${copy.blob}`) || gone) {
      await bank.delete(key);
      cleared.push(copy);
    }
  }
  report.cleared = cleared.length;
  index.setDamaged(recorded, true);
  index.setDamaged(cleared, false);
  return report;
}

/** Records copies found damaged by a reader (verify, restore). */
export async function recordDamage(
  bank: Bank,
  index: BlobIndex,
  copies: readonly { pack: string; blob: string; problem: string }[],
  by: string,
): Promise<void> {
  const foundAt = new Date().toISOString();
  for (const copy of copies) {
    await bank.put(damagedKey(copy.pack, copy.blob), JSON.stringify({ problem: copy.problem, foundAt, by }));
  }
  index.setDamaged(copies, true);
}

/**
 * Removes the damage records of a pack just written whole: pack ids are derived from the
 * pack's content, so writing the same blobs in the same order again gives the same id, and the
 * new object replaces the damaged one.
 */
export async function clearPackDamage(bank: Bank, index: BlobIndex, pack: string): Promise<void> {
  const blobs = index.damagedCopies().get(pack);
  if (blobs === undefined) return;
  for (const blob of blobs) await bank.delete(damagedKey(pack, blob));
  index.setDamaged(
    blobs.map((blob) => ({ pack, blob })),
    false,
  );
}
