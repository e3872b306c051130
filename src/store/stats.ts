/**
 * `ContentStore.stats()` for a caller that needs nothing else of the store (`hoard stats`):
 * the store's module and its imports (writer, reader, check, prune: 18 modules) were most of
 * that command's start-up, for an answer that needs only the index.
 */
import type { Bank } from '../bank/index.js';
import { BlobIndex } from './blob-index.js';

/** Packs, blobs and pack bytes of the content store of `bank` (the provider's whole bank), from its index objects. */
export async function storeStats(bank: Bank): Promise<{ packs: number; blobs: number; bytes: number }> {
  // What the store does before reading its index: an encrypted bank's keys are opened (and
  // one whose encryption the provider does not match is refused) first.
  await bank.contentKeys();
  const index = new BlobIndex(bank.section('store'));
  await index.refresh();
  return index.stats();
}
