/**
 * `hoard stats`: what a provider's repository holds — its content store's packs and their
 * bytes, from the store's index objects (never a pack's contents), and the logical bytes of
 * its available checkpoints, from their records' statistics.
 */
import { decodeSegment } from '../checkpoints/keys.js';
import { CheckpointStore, type CheckpointSummary } from '../checkpoints/store.js';
import type { ResourceStats } from '../plugins/sdk.js';
import type { Provider } from '../providers/provider.js';
import { mapLimit } from '../store/map-limit.js';
import { storeStats } from '../store/stats.js';
import { referenceKeys } from './references.js';

export interface RepositoryStats {
  provider: { id: string; name: string };
  /** Packs of the content store, and the distinct blobs in them. */
  packs: number;
  blobs: number;
  /** Bytes of those packs as written (compressed blobs and the packs' framing). */
  storedBytes: number;
  /** Available checkpoints, and how many of them have no statistics (protected before they were kept). */
  checkpoints: number;
  withoutStats: number;
  /** Files and bytes of the available checkpoints' content, summed over checkpoints (SPEC §13). */
  files: number;
  logicalBytes: number;
  /**
   * Of logicalBytes, those of resources whose content is in the content store (they list
   * blobs: fs.directory's files), as against database copies and dumps kept beside it.
   */
  storeLogicalBytes: number;
  /** storeLogicalBytes ÷ storedBytes, to two decimals; null while the store is empty. */
  dedupRatio: number | null;
}

const PAGE = 1000;
const READ_CONCURRENCY = 16;

export async function repositoryStats(provider: Provider): Promise<RepositoryStats> {
  const checkpoints = new CheckpointStore(provider.bank);
  const available: CheckpointSummary[] = [];
  for (let marker: string | undefined; ; ) {
    const page = await checkpoints.list({ status: 'available', limit: PAGE, ...(marker ? { marker } : {}) });
    available.push(...page.checkpoints);
    if (!page.next) break;
    marker = page.next;
  }
  const [index, records] = await Promise.all([
    storeStats(provider.bank),
    mapLimit(available, READ_CONCURRENCY, async (c) => {
      const [meta, keys] = await Promise.all([checkpoints.read(c.id), referenceKeys(provider.bank, c.id)]);
      const inStore = new Set(keys.map((key) => decodeSegment(key.split('/').at(-2) ?? '')));
      let storeBytes = 0;
      for (const r of meta.resources)
        if (r.stats && inStore.has(`${r.type}#${r.id}`)) storeBytes += r.stats.bytes;
      return { stats: meta.stats, storeBytes };
    }),
  ]);
  let files = 0;
  let logicalBytes = 0;
  let storeLogicalBytes = 0;
  let withoutStats = 0;
  for (const { stats, storeBytes } of records as { stats: ResourceStats | undefined; storeBytes: number }[]) {
    if (!stats) withoutStats++;
    else {
      files += stats.files;
      logicalBytes += stats.bytes;
      storeLogicalBytes += storeBytes;
    }
  }
  return {
    provider: { id: provider.id, name: provider.name },
    packs: index.packs,
    blobs: index.blobs,
    storedBytes: index.bytes,
    checkpoints: available.length,
    withoutStats,
    files,
    logicalBytes,
    storeLogicalBytes,
    dedupRatio: index.bytes > 0 ? Math.round((storeLogicalBytes / index.bytes) * 100) / 100 : null,
  };
}
