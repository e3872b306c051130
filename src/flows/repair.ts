/**
 * `repair`: reads the whole content store back, records what is damaged (so the store stops
 * offering it and the next protect writes it again), then collects with repair on: packs
 * holding damaged copies are rewritten with their sound blobs and removed, indexes are
 * rebuilt from packs, records of what is gone are dropped. Names the checkpoints that refer
 * to blobs with no sound copy left: they stay unrestorable in those parts until a protect
 * of the same data writes the blobs again (content addressing heals them: same ids).
 */
import { PROCESS_OWNER } from '../checkpoints/store.js';
import type { Provider } from '../providers/provider.js';
import { type CheckReport, ContentStore, type PruneReport } from '../store/index.js';
import { requireReadable } from './checkpoint-ops.js';
import { operationStore } from './operation.js';
import { checkpointsReferring, referencedBlobs } from './references.js';

export interface RepairReport {
  dryRun: boolean;
  /** What reading everything back found (at most the first 1000 damaged copies are listed). */
  check: Omit<CheckReport, 'damaged'> & { damagedCopies: number; damaged: CheckReport['damaged'] };
  /** The collection that dropped damaged copies (nothing done in a dry run). */
  prune: PruneReport;
  /** Checkpoints referring to blobs with no sound copy: what they lack, by checkpoint. */
  affected: { id: string; plan: string; status: string; blobs: number }[];
}

export interface RepairOptions {
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Bytes of packs read so far, of how many. */
  onProgress?: (done: number, total: number) => void;
}

export async function repair(provider: Provider, options: RepairOptions = {}): Promise<RepairReport> {
  const dryRun = options.dryRun === true;
  await requireReadable(provider, 'repair');
  // Read under a shared lease: no prune moves a pack while it is checked.
  const reading = operationStore(provider.bank, `${PROCESS_OWNER} repair`);
  let check: CheckReport;
  try {
    check = await reading.check({
      record: !dryRun,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  } finally {
    await reading.release();
  }
  const prune = await new ContentStore(provider.bank).prune(() => referencedBlobs(provider), {
    owner: `${PROCESS_OWNER} repair`,
    dryRun,
    repair: true,
  });
  // A dry run recorded nothing, so its prune does not know this check's damage: count it in.
  const lost = new Set(prune.lost);
  if (dryRun) {
    const referenced = await referencedBlobs(provider);
    for (const id of check.damagedOnly) if (referenced.has(id)) lost.add(id);
  }
  return {
    dryRun,
    check: { ...check, damagedCopies: check.damaged.length, damaged: check.damaged.slice(0, 1000) },
    prune,
    affected: await checkpointsReferring(provider, lost),
  };
}
