/**
 * Garbage collection of the content store: keeps every blob that a checkpoint still
 * needing its data refers to (through its resources' `blobs` objects) and lets the store
 * drop the rest. Checkpoints in `error` keep nothing: they cannot be restored.
 */

import { PROCESS_OWNER } from '../checkpoints/store.js';
import { HoardError } from '../errors.js';
import type { Provider } from '../providers/provider.js';
import { ContentStore, type PruneReport } from '../store/index.js';
import { referencedBlobs } from './references.js';

export async function collectGarbage(
  provider: Provider,
  options: { dryRun?: boolean } = {},
): Promise<PruneReport> {
  // The references are read once the collector holds the store alone, never before.
  return new ContentStore(provider.bank).prune(() => referencedBlobs(provider), {
    owner: PROCESS_OWNER,
    dryRun: options.dryRun === true,
  });
}

/** After a delete: collect what it freed, unless a protect is writing right now (then later). */
export async function collectAfterDelete(provider: Provider): Promise<PruneReport | { skipped: string }> {
  try {
    return await collectGarbage(provider);
  } catch (error) {
    if (error instanceof HoardError && error.code === 'STORE_BUSY') return { skipped: error.message };
    throw error;
  }
}
