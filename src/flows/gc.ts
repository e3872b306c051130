/**
 * Garbage collection of the content store: keeps every blob that a checkpoint still
 * needing its data refers to (through its resources' `blobs` objects) and lets the store
 * drop the rest. Checkpoints in `error` keep nothing: they cannot be restored.
 */

import type { CheckpointStatus } from '../checkpoints/status.js';
import { CheckpointStore, PROCESS_OWNER } from '../checkpoints/store.js';
import { HoardError } from '../errors.js';
import type { Provider } from '../providers/provider.js';
import { ContentStore, type PruneReport } from '../store/index.js';

const KEEPS_DATA: ReadonlySet<CheckpointStatus> = new Set([
  'protecting',
  'available',
  'copying',
  'deleting',
  'error_deleting',
]);

/** Every blob id referenced by the bank's checkpoints that still need their data. */
export async function referencedBlobs(provider: Provider): Promise<Set<string>> {
  const store = new CheckpointStore(provider.bank);
  const referenced = new Set<string>();
  for (let marker: string | undefined; ; ) {
    const page = await store.list({ limit: 500, ...(marker ? { marker } : {}) });
    for (const c of page.checkpoints) {
      if (!KEEPS_DATA.has(c.status)) continue;
      for (const key of await provider.bank.list(`checkpoints/${c.id}/resources/`)) {
        if (!key.endsWith('/blobs')) continue;
        for (const id of (await provider.bank.get(key)).toString('utf8').split('\n'))
          if (id) referenced.add(id);
      }
    }
    if (!page.next) break;
    marker = page.next;
  }
  return referenced;
}

export async function collectGarbage(
  provider: Provider,
  options: { dryRun?: boolean } = {},
): Promise<PruneReport> {
  const referenced = await referencedBlobs(provider);
  return new ContentStore(provider.bank).prune(referenced, {
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
