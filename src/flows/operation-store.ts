/**
 * An operation's content store, and the check that a provider's bank can be read: what
 * `hoard ls` and `diff` need of the operations' module, without the engine and the hook
 * graph that running an operation loads (operation.ts re-exports both).
 */
import type { Bank } from '../bank/index.js';
import { HoardError } from '../errors.js';
import type { Provider } from '../providers/provider.js';
import { ContentStore } from '../store/index.js';

/** Who hears that an operation's store waits for a garbage collection: the run using it. */
export const waitListeners = new WeakMap<ContentStore, (message: string) => void>();

/**
 * The content store of one operation: it takes a shared lease (waiting while a garbage
 * collection runs, and saying so in the log and the progress of the hook that asked) when a
 * hook first uses it, and keeps it until `release()`, so no collection can run while the
 * operation reads or refers to blobs.
 */
export function operationStore(bank: Bank, owner: string, bankType?: string): ContentStore {
  const store: ContentStore = new ContentStore(bank, {
    holdAs: owner,
    onWait: (message) => waitListeners.get(store)?.(message),
    // An object store answers each request after a round trip: more packs in flight hide it
    // (measured on radosgw: 1 GB protected in 19.9 s with one upload at a time, 15.9 s with 4).
    // A local disk takes a pack in milliseconds: a second one in flight was no faster and held
    // another pack's memory (20 MiB).
    ...(process.env.HOARD_STORE_UPLOADS
      ? {}
      : bankType === 's3'
        ? { uploads: 4 }
        : bankType === 'fs'
          ? { uploads: 1 }
          : {}),
    // Whole-checkpoint reads (restore, verify) start the next packs' GETs while one is read:
    // on radosgw the round trips and the server's first reads then overlap the work. Not on
    // a local disk, where opening ahead gained nothing (slower in interleaved restores).
    ...(bankType === 's3' ? { readAhead: 2 } : {}),
  });
  return store;
}

/**
 * ENCRYPTION_WRITE_ONLY unless this process can read the provider's bank (a public-key bank
 * opened with only the recipient cannot): said before anything runs.
 */
export async function requireReadable(provider: Provider, what: string): Promise<void> {
  if (await provider.bank.readsAll()) return;
  throw new HoardError(
    'ENCRYPTION_WRITE_ONLY',
    `provider "${provider.name}" holds only the recipient here (public-key mode): ${what} needs [encryption] identity_file`,
  );
}
