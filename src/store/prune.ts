/**
 * Garbage collection (docs/store-format.md, "Prune"): which packs go, which are rewritten, and
 * the order of writes and deletes that keeps every referenced blob readable at every moment.
 */
import type { Bank } from '../bank/index.js';
import { HoardError } from '../errors.js';
import { decodeBlob } from './blob.js';
import type { BlobIndex } from './blob-index.js';
import { clearPackDamage } from './check.js';
import { damagedKey, indexKey, PACKS, packKey, packOfPackKey } from './keys.js';
import { acquirePruneLease, checkIdle, findWriters, type KeptLease } from './leases.js';
import type { ResolvedOptions } from './options.js';
import {
  type BlobEntry,
  ENTRY_SIZE,
  encodeIndex,
  PackBuilder,
  type PackIndex,
  packSize,
  partsStream,
  readPackEntries,
  TRAILER_SIZE,
} from './pack.js';

export interface PruneOptions {
  /** Who prunes, as writers refused with STORE_BUSY are told. */
  owner: string;
  /** Report what a prune would do, changing nothing and taking no lease. Default false. */
  dryRun?: boolean;
  /**
   * Also drop copies recorded as damaged (run after a `check`, which makes the records
   * fresh): a pack holding one is rewritten without it (its sound blobs salvaged) and
   * deleted, with its records; a pack that nothing can name is deleted. Without it, a pack
   * holding the only copy of a referenced blob stays, damaged or not. Default false.
   */
  repair?: boolean;
}

export interface PruneReport {
  /** Packs deleted because none of their blobs is referenced. */
  packsRemoved: number;
  /** Packs mostly unreferenced whose referenced blobs were copied into new packs, then deleted. */
  packsRewritten: number;
  /** Blob copies dropped: unreferenced blobs, and duplicates of blobs kept in another pack. */
  blobsRemoved: number;
  /** Bytes of packs deleted less bytes of packs written. */
  bytesFreed: number;
  /** Bytes of packs left. */
  bytesKept: number;
  dryRun: boolean;
  /** Index objects written for packs that had none (or a damaged one) and hold referenced blobs. */
  indexesRecovered: number;
  /** Referenced blobs found in no pack: lost before this prune, reported so that verify can be run. */
  blobsMissing: number;
  /**
   * Referenced blobs with no sound copy, only damaged ones: left in place by a plain prune,
   * dropped by a repair. With `blobsMissing`, what the checkpoints referring to them lack.
   */
  blobsDamaged: number;
  /** The referenced blobs that have no sound copy after this prune (missing or damaged), sorted. */
  lost: string[];
  /** Damage records removed with the packs they named. */
  damageCleared: number;
  /** One line per problem found (a damaged pack, an index naming a missing pack); at most 100. */
  problems: string[];
}

/** A pack is rewritten when less than this share of its blob bytes is still referenced. */
export const REWRITE_BELOW = 0.5;
const MAX_PROBLEMS = 100;

interface PackInfo {
  pack: string;
  blobs: BlobEntry[];
  size: number;
  /** False if the pack has no sound index object yet. */
  indexed: boolean;
  /** The blobs this pack keeps: referenced, and not kept by another pack. */
  used: BlobEntry[];
  /** Left in place whatever it holds: its index is not authenticated and its own entries do not read. */
  held?: boolean;
}

/**
 * What a collector keeps: called once the prune holds the store alone (no shared lease is
 * live and none can be taken), so no operation can add a reference or a blob while the
 * answer is used. Reading references before that is the race that loses a finishing
 * protect's data (docs/store-format.md, "What garbage collection may delete").
 */
export type References = () => Promise<ReadonlySet<string>>;

export async function prune(
  bank: Bank,
  index: BlobIndex,
  options: ResolvedOptions,
  references: References,
  { owner, dryRun = false, repair = false }: PruneOptions,
): Promise<PruneReport> {
  const settings = { ttlMs: options.leaseTtlMs, now: options.now };
  let lease: KeptLease | undefined;
  if (dryRun) await checkIdle(bank);
  else lease = await acquirePruneLease(bank, owner, settings);
  try {
    const referenced = await references();
    await lease?.confirm();
    return await run(bank, index, options, referenced, dryRun, repair, lease);
  } finally {
    await lease?.release();
  }
}

async function run(
  bank: Bank,
  index: BlobIndex,
  options: ResolvedOptions,
  referenced: ReadonlySet<string>,
  dryRun: boolean,
  repair: boolean,
  lease: KeptLease | undefined,
): Promise<PruneReport> {
  const problems: string[] = [];
  const problem = (line: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(line);
  };
  await index.refresh();

  const stored = new Set<string>();
  for (const key of await bank.list(PACKS)) {
    const pack = packOfPackKey(key);
    if (pack !== undefined) stored.add(pack);
  }
  const packs: PackInfo[] = [];
  const dangling: string[] = [];
  let unreadableBytes = 0;
  for (const pack of index.packIds().sort()) {
    const blobs = index.pack(pack)!.blobs;
    if (!stored.has(pack)) {
      problem(
        `index ${indexKey(pack)} names pack ${pack}, which is missing: its ${blobs.length} blobs are lost`,
      );
      dangling.push(pack);
      continue;
    }
    packs.push({ pack, blobs, size: packSize(blobs), indexed: !index.rebuilt.has(pack), used: [] });
  }
  for (const [pack, why] of index.unreadable) {
    if (stored.has(pack)) continue;
    problem(why);
    dangling.push(pack);
  }
  // Packs without an index: left by a writer that died or gave up, or indexes lost. Their own
  // entries say what they hold, so a referenced blob in one is kept, never deleted.
  const unreadable: { pack: string; size: number }[] = [];
  for (const pack of [...stored].sort()) {
    if (index.pack(pack) !== undefined) continue;
    const bytes = await bank.get(packKey(pack));
    try {
      packs.push({ pack, blobs: readPackEntries(pack, bytes), size: bytes.length, indexed: false, used: [] });
    } catch (error) {
      if (repair) {
        problem(
          `${(error as Error).message}; it has no index either, so nothing in it can be named: removed`,
        );
        unreadable.push({ pack, size: bytes.length });
      } else {
        problem(`${(error as Error).message}; it has no index either, so it is left in place`);
        unreadableBytes += bytes.length;
      }
    }
  }

  // A pack is deleted or rewritten only on the word of an index its id authenticates: one in
  // the JSON form is checked against the pack's own entries first (a changed digit of an id
  // there would make a referenced blob look unreferenced), and the plan made again if any differ.
  let plan = planPacks(packs, referenced, index, repair);
  const checked = new Set<string>();
  for (;;) {
    const suspect = [...plan.remove, ...plan.rewrite].filter(
      (p) => p.indexed && index.unchecked.has(p.pack) && !checked.has(p.pack),
    );
    if (suspect.length === 0) break;
    for (const p of suspect) {
      checked.add(p.pack);
      let own: BlobEntry[];
      try {
        own = readPackEntries(p.pack, await bank.get(packKey(p.pack)));
      } catch (error) {
        if (!(error instanceof HoardError)) throw error;
        problem(`${(error as Error).message}; its index is not authenticated, so it is left in place`);
        p.held = true;
        continue;
      }
      if (!sameEntries(own, p.blobs)) {
        problem(
          `index ${indexKey(p.pack)} does not match its pack's own entries: the pack's are used and the index rewritten`,
        );
        p.blobs = own;
        p.indexed = false;
      }
    }
    plan = planPacks(packs, referenced, index, repair);
  }
  const { remove, rewrite, recover, lost, damagedOnly, blobsMissing } = plan;

  let rewritten = rewrite;
  let newBytes: number;
  let damageCleared = 0;
  if (lease === undefined) {
    newBytes = plannedPackBytes(rewrite, options.packSize);
  } else {
    await lease.confirm();
    for (const p of recover) {
      const recovered: PackIndex = { version: 1, pack: p.pack, blobs: p.blobs };
      await bank.put(indexKey(p.pack), encodeIndex(recovered));
      index.rebuilt.delete(p.pack);
      index.add(recovered);
    }
    const copied = await repack(bank, index, options, rewrite, lease, problem, repair);
    // A pack that could not be copied whole (a referenced blob in it is damaged) stays.
    rewritten = copied.done;
    newBytes = copied.bytesWritten;
    for (const id of copied.dropped) if (!lost.includes(id)) lost.push(id);
    lost.sort();
    await lease.confirm();
    const gone = [...remove, ...rewritten];
    // Each delete only while the lease surely holds: once it may have expired, a writer may
    // have loaded the index and chosen to reuse blobs of the packs still to go.
    for (const p of gone) {
      // Index first: a crash in between leaves a pack without an index, which the next prune handles.
      lease.assertHeld();
      await bank.delete(indexKey(p.pack));
      await bank.delete(packKey(p.pack));
    }
    for (const pack of dangling) {
      lease.assertHeld();
      await bank.delete(indexKey(pack));
    }
    for (const { pack } of unreadable) {
      lease.assertHeld();
      await bank.delete(packKey(pack));
    }
    for (const key of (await findWriters(bank)).stale) await bank.delete(key);
    index.remove([...gone.map((p) => p.pack), ...dangling]);
    // Records of damage in packs that are gone name nothing any more.
    const goneNow = new Set([...gone.map((p) => p.pack), ...dangling, ...unreadable.map((u) => u.pack)]);
    const cleared: { pack: string; blob: string }[] = [];
    for (const [pack, blobs] of index.damagedCopies()) {
      if (!goneNow.has(pack)) continue;
      for (const blob of blobs) {
        await bank.delete(damagedKey(pack, blob));
        cleared.push({ pack, blob });
      }
    }
    index.setDamaged(cleared, false);
    damageCleared = cleared.length;
  }

  let before = unreadableBytes;
  for (const u of unreadable) before += u.size;
  for (const p of packs) before += p.size;
  let freed = 0;
  let blobsRemoved = 0;
  for (const p of remove) {
    freed += p.size;
    blobsRemoved += p.blobs.length;
  }
  for (const p of rewritten) {
    freed += p.size;
    blobsRemoved += p.blobs.length - p.used.length;
  }
  for (const u of unreadable) freed += u.size;
  freed -= newBytes;
  return {
    packsRemoved: remove.length,
    packsRewritten: rewritten.length,
    blobsRemoved,
    bytesFreed: freed,
    bytesKept: before - freed,
    dryRun,
    indexesRecovered: recover.length,
    blobsMissing,
    blobsDamaged: damagedOnly.size,
    lost,
    damageCleared,
    problems,
  };
}

interface Plan {
  remove: PackInfo[];
  rewrite: PackInfo[];
  recover: PackInfo[];
  /** The referenced blob ids with no sound copy, sorted. */
  lost: string[];
  blobsMissing: number;
  damagedOnly: Set<string>;
}

/**
 * Which pack keeps each referenced blob — preferring sound copies, then packs that keep the
 * most bytes anyway — and so which packs go, are rewritten, or get their index recovered.
 * Sets each pack's `used`.
 */
function planPacks(
  packs: PackInfo[],
  referenced: ReadonlySet<string>,
  index: BlobIndex,
  repair: boolean,
): Plan {
  const sound = (p: PackInfo, b: BlobEntry) => !index.isDamaged(p.pack, b.id);
  const weight = new Map<string, number>();
  for (const p of packs) {
    let bytes = 0;
    for (const b of p.blobs) if (referenced.has(b.id) && sound(p, b)) bytes += b.length;
    weight.set(p.pack, bytes);
  }
  const byWeight = [...packs].sort(
    (a, b) => weight.get(b.pack)! - weight.get(a.pack)! || cmp(a.pack, b.pack),
  );
  const keeper = new Map<string, string>();
  for (const p of byWeight) {
    for (const b of p.blobs)
      if (referenced.has(b.id) && !keeper.has(b.id) && sound(p, b)) keeper.set(b.id, p.pack);
  }
  // A blob with only damaged copies: a plain prune leaves one in place (the record may be
  // stale, and nothing better exists); a repair, after a fresh check, lets it go.
  const damagedOnly = new Set<string>();
  for (const p of byWeight) {
    for (const b of p.blobs) {
      if (!referenced.has(b.id) || keeper.has(b.id) || damagedOnly.has(b.id)) continue;
      damagedOnly.add(b.id);
      if (!repair) keeper.set(b.id, p.pack);
    }
  }
  const lost: string[] = [];
  let blobsMissing = 0;
  for (const id of referenced) {
    if (damagedOnly.has(id)) lost.push(id);
    else if (!keeper.has(id)) {
      blobsMissing++;
      lost.push(id);
    }
  }
  lost.sort();

  const remove: PackInfo[] = [];
  const rewrite: PackInfo[] = [];
  const recover: PackInfo[] = [];
  for (const p of packs) {
    p.used = p.blobs.filter((b) => keeper.get(b.id) === p.pack);
    const usedBytes = p.used.reduce((n, b) => n + b.length, 0);
    const allBytes = p.blobs.reduce((n, b) => n + b.length, 0);
    const holdsDamage = p.blobs.some((b) => !sound(p, b));
    if (p.held) continue;
    if (p.used.length === 0) remove.push(p);
    else if (usedBytes < allBytes * REWRITE_BELOW || (repair && holdsDamage)) rewrite.push(p);
    else if (!p.indexed) recover.push(p);
  }

  return { remove, rewrite, recover, lost, blobsMissing, damagedOnly };
}

function sameEntries(a: BlobEntry[], b: BlobEntry[]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (x, i) =>
        x.id === b[i]!.id &&
        x.offset === b[i]!.offset &&
        x.length === b[i]!.length &&
        x.rawLength === b[i]!.rawLength &&
        x.compression === b[i]!.compression,
    )
  );
}

/** Copies the used blobs of `packs` into new packs, checking each; which packs were fully copied. */
async function repack(
  bank: Bank,
  index: BlobIndex,
  options: ResolvedOptions,
  packs: PackInfo[],
  lease: KeptLease,
  problem: (line: string) => void,
  repair: boolean,
): Promise<{ done: PackInfo[]; bytesWritten: number; dropped: string[] }> {
  const done: PackInfo[] = [];
  const dropped: string[] = [];
  let bytesWritten = 0;
  let builder = new PackBuilder();
  const flush = async () => {
    if (builder.count === 0) return;
    const { index: written, parts, size } = builder.seal();
    builder = new PackBuilder();
    await lease.confirm();
    await bank.put(packKey(written.pack), partsStream(parts));
    await bank.put(indexKey(written.pack), encodeIndex(written));
    await clearPackDamage(bank, index, written.pack);
    index.add(written);
    bytesWritten += size;
  };
  for (const p of packs) {
    let bytes: Buffer | undefined;
    let unreadable: HoardError | undefined;
    try {
      bytes = await bank.get(packKey(p.pack));
    } catch (error) {
      // An encrypted pack that fails authentication: every blob of it is damaged.
      if (!(error instanceof HoardError && error.code === 'BANK_OBJECT_CORRUPT')) throw error;
      unreadable = error;
    }
    let whole = true;
    for (const b of p.used) {
      const stored = bytes?.subarray(b.offset, b.offset + b.length) ?? Buffer.alloc(0);
      try {
        if (unreadable) throw unreadable;
        await decodeBlob({ ...b, pack: p.pack }, stored, options.naming.idKey);
      } catch (error) {
        if (repair) {
          problem(`${(error as Error).message}; dropped`);
          dropped.push(b.id);
          await bank.put(
            damagedKey(p.pack, b.id),
            JSON.stringify({
              problem: (error as Error).message,
              foundAt: new Date().toISOString(),
              by: 'repair',
            }),
          );
          continue;
        }
        problem(`${(error as Error).message}; its pack is kept as it is`);
        whole = false;
        continue;
      }
      builder.add(b.id, stored, b.rawLength, b.compression);
      if (builder.size >= options.packSize) await flush();
    }
    if (whole) done.push(p);
  }
  await flush();
  return { done, bytesWritten, dropped };
}

/** The bytes `repack` would write for `packs`, packing their used blobs the same way. */
function plannedPackBytes(packs: PackInfo[], limit: number): number {
  let total = 0;
  let size = 0;
  let count = 0;
  const close = () => {
    if (count > 0) total += size + count * ENTRY_SIZE + TRAILER_SIZE;
    size = 0;
    count = 0;
  };
  for (const p of packs) {
    for (const b of p.used) {
      size += b.length;
      count++;
      if (size >= limit) close();
    }
  }
  close();
  return total;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
