/**
 * Garbage collection of a provider's bank: finishes what killed deletes left, removes
 * checkpoint folders that are provably dead, collects the content store's unreferenced data
 * (keeping every blob that a checkpoint still needing its data refers to: its resources'
 * `blobs` objects, read only once the collector holds the store alone), and sweeps what
 * crashed writes left. Checkpoints in `error` keep nothing: they cannot be restored.
 */
import { checkpointLease, checkpointPrefix, metaKey } from '../checkpoints/keys.js';
import { type CheckpointMeta, CheckpointStore, PROCESS_OWNER } from '../checkpoints/store.js';
import { HoardError } from '../errors.js';
import type { Provider } from '../providers/provider.js';
import { ContentStore, type PruneReport } from '../store/index.js';
import { deleteCheckpoint, requireReadable } from './checkpoint-ops.js';
import { referencedBlobs } from './references.js';

export interface GcReport extends PruneReport {
  /** Checkpoints a killed or failed delete left (`deleted` with keys left, `error_deleting`) whose delete is now finished. */
  deletesFinished: string[];
  /** Deletes tried again that failed again; they stay `error_deleting`. */
  deletesFailed: { checkpoint: string; error: string }[];
  /** Checkpoint folders without a record, older than a lease's time to live, removed (ids). */
  foldersRemoved: string[];
  /** Records that no listing showed (an index entry lost to a crash), indexed again (ids). */
  reindexed: string[];
  /**
   * Checkpoints whose entries in the flat index of banks written before 2026-12-07 were moved
   * to the newest-first index (docs/bank-layout.md); 0 in a dry run.
   */
  indexMoved: number;
  /** What crashed writes left in the bank: temporary files, empty directories, dead lease records. */
  swept: { temporary: number; directories: number; leases: number };
}

export interface GcOptions {
  dryRun?: boolean;
  /** Only dead deletes of this plan (what `prune PLAN` finishes). */
  plan?: string;
}

/** Leftovers are touched only once older than this many lease lifetimes. */
const AGE_IN_LEASES = 2;

export async function collectGarbage(provider: Provider, options: GcOptions = {}): Promise<GcReport> {
  const dryRun = options.dryRun === true;
  await requireReadable(provider, 'gc');
  const leftovers = await finishLeftovers(provider, options);
  // The references are read once the collector holds the store alone, never before.
  const store = await new ContentStore(provider.bank).prune(() => referencedBlobs(provider), {
    owner: PROCESS_OWNER,
    dryRun,
  });
  const olderThan = AGE_IN_LEASES * new CheckpointStore(provider.bank).leaseTtlMs;
  const swept = dryRun ? { temporary: 0, directories: 0, leases: 0 } : await provider.bank.sweep(olderThan);
  return { ...store, ...leftovers, swept };
}

/**
 * Every checkpoint folder of the bank, compared with its record and the index: finishes
 * deletes a crash cut short (records left `deleted`, `deleting` whose process died, and
 * `error_deleting`), removes folders that lost their record, re-indexes records no listing
 * shows, moves entries of the flat index of older banks to today's. Touches only what no live process holds and what is older than two lease lifetimes.
 */
export async function finishLeftovers(
  provider: Provider,
  options: GcOptions = {},
): Promise<
  Pick<GcReport, 'deletesFinished' | 'deletesFailed' | 'foldersRemoved' | 'reindexed' | 'indexMoved'>
> {
  const dryRun = options.dryRun === true;
  const bank = provider.bank;
  const checkpoints = new CheckpointStore(bank);
  const report = {
    deletesFinished: [] as string[],
    deletesFailed: [] as { checkpoint: string; error: string }[],
    foldersRemoved: [] as string[],
    reindexed: [] as string[],
    indexMoved: 0,
  };
  const olderThan = Date.now() - AGE_IN_LEASES * checkpoints.leaseTtlMs;
  for (const id of await checkpointFolders(provider)) {
    const info = await bank.leaseInfo(checkpointLease(id));
    if (info?.live) continue; // a live process works on it
    let meta: CheckpointMeta;
    try {
      meta = await checkpoints.get(id); // turns a dead `deleting` into `error_deleting`
    } catch (error) {
      if (!(error instanceof HoardError)) throw error;
      if (error.code === 'CHECKPOINT_NOT_FOUND' && !options.plan) {
        if (await folderOlderThan(provider, id, olderThan)) {
          if (!dryRun) await removeFolder(provider, id);
          report.foldersRemoved.push(id);
        }
      }
      continue; // a damaged record is `delete --force`'s business, not gc's
    }
    if (options.plan !== undefined && meta.plan !== options.plan) continue;
    if (meta.status === 'deleted' || meta.status === 'error_deleting') {
      if (dryRun) {
        report.deletesFinished.push(id);
        continue;
      }
      try {
        const result = await deleteCheckpoint(id, provider, { collect: false });
        if (result.checkpoint.status === 'deleted') report.deletesFinished.push(id);
        else report.deletesFailed.push({ checkpoint: id, error: failure(result.operation?.tasks) });
      } catch (error) {
        // Another process took it meanwhile, or the bank failed: reported, never fatal to gc.
        report.deletesFailed.push({ checkpoint: id, error: (error as Error).message });
      }
      continue;
    }
    if (Date.parse(meta.updatedAt) < olderThan && (await checkpoints.indexed(id)).length === 0) {
      if (!dryRun) await checkpoints.reindex(meta);
      report.reindexed.push(id);
    }
    if (!dryRun && (await checkpoints.moveLegacyIndex(id))) report.indexMoved++;
  }
  return report;
}

/** The ids of every folder under `checkpoints/`, with a record or not. */
async function checkpointFolders(provider: Provider): Promise<string[]> {
  const ids = new Set<string>();
  for (let marker: string | undefined; ; ) {
    const keys = await provider.bank.list('checkpoints/', { limit: 1000, ...(marker ? { marker } : {}) });
    if (keys.length === 0) break;
    for (const key of keys) {
      const id = key.split('/')[1];
      if (id) ids.add(id);
    }
    const last = keys[keys.length - 1]!;
    // Skip the rest of the last folder's keys: its id is known.
    marker = `${checkpointPrefix(last.split('/')[1]!)}\uffff`;
  }
  return [...ids];
}

/** True if no key of the folder was written after `time` (ms since the epoch). */
async function folderOlderThan(provider: Provider, id: string, time: number): Promise<boolean> {
  for (const key of await provider.bank.list(checkpointPrefix(id))) {
    const head = await provider.bank.head(key);
    if (head && head.modifiedAt >= time) return false;
  }
  return true;
}

async function removeFolder(provider: Provider, id: string): Promise<void> {
  for (const key of await provider.bank.list(checkpointPrefix(id))) {
    if (key !== metaKey(id)) await provider.bank.delete(key);
  }
}

function failure(
  tasks: { resource: string; hook: string; status: string; error?: { message: string } }[] = [],
) {
  const failed = tasks.find((t) => t.status === 'failed');
  return failed
    ? `${failed.resource} ${failed.hook}: ${failed.error?.message ?? 'failed'}`
    : 'the delete failed';
}
