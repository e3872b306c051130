/**
 * Which content-store blobs checkpoints refer to: each resource of a checkpoint that keeps
 * data in the store lists its blob ids in its section's `blobs` object (store/references.ts).
 * Garbage collection keeps them, copy carries them, and a protect proves them before it
 * calls its checkpoint available (docs/store-format.md, "What garbage collection may delete").
 */
import type { Bank } from '../bank/index.js';
import { checkpointPrefix } from '../checkpoints/keys.js';
import type { CheckpointStatus } from '../checkpoints/status.js';
import { CheckpointStore } from '../checkpoints/store.js';
import { HoardError } from '../errors.js';
import type { Provider } from '../providers/provider.js';
import type { ContentStore } from '../store/index.js';
import { decodeReferences } from '../store/references.js';

/** Statuses whose checkpoints still need their data: `error` and `deleted` ones do not. */
const KEEPS_DATA: ReadonlySet<CheckpointStatus> = new Set([
  'protecting',
  'available',
  'copying',
  'deleting',
  'error_deleting',
]);

/** The `blobs` objects of a checkpoint's resources, by key relative to the bank. */
export async function referenceKeys(bank: Bank, id: string): Promise<string[]> {
  const prefix = `${checkpointPrefix(id)}resources/`;
  return (await bank.list(prefix)).filter((key) => key.endsWith('/blobs'));
}

/** Every blob id that checkpoint `id` refers to. */
export async function checkpointReferences(bank: Bank, id: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const key of await referenceKeys(bank, id)) {
    for (const blob of decodeReferences(key, await bank.get(key))) ids.add(blob);
  }
  return ids;
}

/**
 * The references of a listed checkpoint that needs its data, or undefined if it was deleted
 * since it was listed: a delete removes the keys once the status is `deleted`, so a listing
 * can name a checkpoint whose `blobs` objects are gone a moment later (a collector running
 * after one delete while another deletes). A missing object of a checkpoint that still needs
 * its data is damage, and stays an error.
 */
async function listedReferences(
  bank: Bank,
  store: CheckpointStore,
  id: string,
): Promise<Set<string> | undefined> {
  try {
    return await checkpointReferences(bank, id);
  } catch (error) {
    if (!(error instanceof HoardError && error.code === 'BANK_NOT_FOUND')) throw error;
    const now = await store.get(id).catch((lookup: unknown) => {
      if (lookup instanceof HoardError && lookup.code === 'CHECKPOINT_NOT_FOUND') return undefined;
      throw lookup;
    });
    if (now === undefined || !KEEPS_DATA.has(now.status)) return undefined;
    throw error;
  }
}

/** Every blob id referenced by the bank's checkpoints that still need their data. */
export async function referencedBlobs(provider: Provider): Promise<Set<string>> {
  const store = new CheckpointStore(provider.bank);
  const referenced = new Set<string>();
  for (let marker: string | undefined; ; ) {
    // Listing turns a `protecting` checkpoint whose process died into `error` (stored, by
    // compare-and-swap), so a protect that wakes up later cannot then call it available.
    const page = await store.list({ limit: 500, ...(marker ? { marker } : {}) });
    for (const c of page.checkpoints) {
      if (!KEEPS_DATA.has(c.status)) continue;
      for (const id of (await listedReferences(provider.bank, store, c.id)) ?? []) referenced.add(id);
    }
    if (!page.next) break;
    marker = page.next;
  }
  return referenced;
}

/**
 * The last step before a protect or copy calls its checkpoint available: every blob the
 * checkpoint refers to is in the store's index (not removed, not known damaged), checked
 * while holding the store's shared lease, which is then renewed to prove it was never lost
 * since the store was first used — so no collector can have run in between. STORE_CORRUPT
 * naming the first missing blob, or LEASE_LOST (also when `store` holds no shared lease).
 */
export async function proveReferences(store: ContentStore, bank: Bank, id: string): Promise<void> {
  const references = await checkpointReferences(bank, id);
  if (references.size === 0) return;
  // A blob whose pack is missing is lacking too, though its index object is there.
  const lacking = await store.lacking(references, { storedPacks: true });
  // Unheld, nothing proves that no collector ran since the blobs were written or chosen.
  if (!(await store.confirmHeld())) {
    throw new HoardError(
      'LEASE_LOST',
      `checkpoint ${id}: its operation holds no shared lease on the content store, so nothing proves its data was not collected meanwhile; it is not made available`,
      { details: { checkpoint: id } },
    );
  }
  if (lacking.size > 0) {
    const first = [...lacking].sort()[0]!;
    throw new HoardError(
      'STORE_CORRUPT',
      `checkpoint ${id} refers to ${lacking.size} blob(s) that the content store does not have or knows to be damaged (first: ${first}); it is not made available`,
      { details: { checkpoint: id, blob: first, missing: lacking.size } },
    );
  }
}

/** The checkpoints (with a status that needs data) that refer to any of `blobs`, and how many each. */
export async function checkpointsReferring(
  provider: Provider,
  blobs: ReadonlySet<string>,
): Promise<{ id: string; plan: string; status: string; blobs: number }[]> {
  const found: { id: string; plan: string; status: string; blobs: number }[] = [];
  if (blobs.size === 0) return found;
  const store = new CheckpointStore(provider.bank);
  for (let marker: string | undefined; ; ) {
    const page = await store.list({ limit: 500, ...(marker ? { marker } : {}) });
    for (const c of page.checkpoints) {
      if (!KEEPS_DATA.has(c.status)) continue;
      let count = 0;
      for (const id of (await listedReferences(provider.bank, store, c.id)) ?? []) if (blobs.has(id)) count++;
      if (count > 0) found.push({ id: c.id, plan: c.plan, status: c.status, blobs: count });
    }
    if (!page.next) break;
    marker = page.next;
  }
  return found;
}
