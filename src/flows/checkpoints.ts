/**
 * Checkpoint records for the CLI and the service, which sit above flows and do not open the
 * checkpoints/ store themselves: each function is one store call on a provider's bank, named
 * for what the caller wants. The ids, statuses and record types they need come from here too.
 */
import { CHECKPOINT_ID, metaKey } from '../checkpoints/keys.js';
import { CHECKPOINT_STATUSES, type CheckpointStatus } from '../checkpoints/status.js';
import {
  type CheckpointMeta,
  CheckpointStore,
  type CheckpointSummary,
  type ListFilter,
} from '../checkpoints/store.js';
import type { Provider } from '../providers/provider.js';

export type { CheckpointMeta, CheckpointStatus, CheckpointSummary, ListFilter };
export { CHECKPOINT_ID, CHECKPOINT_STATUSES };

/** One page of the provider's checkpoints, newest first; `next` is the marker of the next page. */
export function listCheckpoints(
  provider: Provider,
  filter: ListFilter = {},
): Promise<{ checkpoints: CheckpointSummary[]; next: string | null }> {
  return new CheckpointStore(provider.bank).list(filter);
}

/**
 * The record, with a working status whose process is gone turned into its failure status
 * (and stored so); CHECKPOINT_NOT_FOUND or CHECKPOINT_CORRUPT as `readCheckpoint`.
 */
export function getCheckpoint(provider: Provider, id: string): Promise<CheckpointMeta> {
  return new CheckpointStore(provider.bank).get(id);
}

/** The record as stored, nothing written; CHECKPOINT_NOT_FOUND if none, CHECKPOINT_CORRUPT if damaged. */
export function readCheckpoint(provider: Provider, id: string): Promise<CheckpointMeta> {
  return new CheckpointStore(provider.bank).read(id);
}

/** The index entries naming checkpoint `id`: all that is known of one whose record is damaged. */
export function indexedCheckpoint(provider: Provider, id: string): Promise<CheckpointSummary[]> {
  return new CheckpointStore(provider.bank).indexed(id);
}

/** Whether the provider's bank holds a record for `id`, readable or not. */
export function holdsCheckpointRecord(provider: Provider, id: string): Promise<boolean> {
  return provider.bank.exists(metaKey(id));
}

/**
 * Removes every key of a checkpoint without its plugins' delete hooks (for one whose record
 * is damaged); the next gc collects the data only it used.
 */
export function discardCheckpoint(
  provider: Provider,
  id: string,
): Promise<{ keys: number; plans: string[] }> {
  return new CheckpointStore(provider.bank).discard(id);
}

/**
 * The ids of the provider's checkpoints (not deleted) that start with `prefix`, at most
 * `limit`: one listing of the time index, which needs no record read.
 */
export async function checkpointsWithPrefix(
  provider: Provider,
  prefix: string,
  limit = 10,
): Promise<string[]> {
  const ids = new Set<string>();
  for (const key of await provider.bank.list(`index/time/${prefix}`, { limit: limit * 4 })) {
    const id = key.slice('index/time/'.length).split('.')[0]!;
    if (id.startsWith(prefix) && !key.slice('index/time/'.length + id.length).startsWith('.deleted.'))
      ids.add(id);
    if (ids.size >= limit) break;
  }
  return [...ids];
}
