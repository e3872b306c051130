/**
 * Checkpoint records for the CLI and the service, which sit above flows and do not open the
 * checkpoints/ store themselves: each function is one store call on a provider's bank, named
 * for what the caller wants. The ids, statuses and record types they need come from here too.
 */
import { CHECKPOINT_ID, metaKey, operationKey } from '../checkpoints/keys.js';
import { CHECKPOINT_STATUSES, type CheckpointStatus } from '../checkpoints/status.js';
import {
  type CheckpointMeta,
  CheckpointStore,
  type CheckpointSummary,
  type ListFilter,
} from '../checkpoints/store.js';
import type { ResourceStats } from '../plugins/sdk.js';
import type { Provider } from '../providers/provider.js';
import { mapLimit } from '../store/map-limit.js';
import type { OperationLog } from './operation.js';

export type { CheckpointMeta, CheckpointStatus, CheckpointSummary, ListFilter };
export { CHECKPOINT_ID, CHECKPOINT_STATUSES };

/** One page of the provider's checkpoints, newest first; `next` is the marker of the next page. */
export function listCheckpoints(
  provider: Provider,
  filter: ListFilter = {},
): Promise<{ checkpoints: CheckpointSummary[]; next: string | null }> {
  return new CheckpointStore(provider.bank).list(filter);
}

/** Records read at once when a listing shows statistics. */
const READ_CONCURRENCY = 16;

/** What a listing adds to an index entry. */
export type ListedCheckpoint = CheckpointSummary & { planName?: string; stats?: ResourceStats };

/** A service plan's key in a bank: its catalog id (a UUIDv7). */
const SERVICE_PLAN_KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The summaries with each checkpoint's total `stats` (SPEC §13) and, for a service plan's
 * checkpoints, the plan's `planName`. Stats come from the index entries the summaries were
 * listed from, or from the flat stats index of banks written before 2026-12-07 (one scan, no
 * record read); a checkpoint without either (written before they were kept, still protecting,
 * in an encrypted bank) has its record read instead, `READ_CONCURRENCY` at a time. The plan
 * name is read from one record per service plan of the page (its newest checkpoint's, which
 * names the plan as it was last protected). A checkpoint whose record has no stats or cannot
 * be read gets none; when the first record read fails for another reason than its own
 * damage (an encrypted bank opened without its password), no other is tried.
 * `planNames: false` skips the plan names (a caller that knows them: the service's catalog).
 */
export async function withStats(
  provider: Provider,
  summaries: readonly CheckpointSummary[],
  options: { planNames?: boolean } = {},
): Promise<ListedCheckpoint[]> {
  const store = new CheckpointStore(provider.bank);
  const indexed = new Map<string, ResourceStats>();
  for (const s of summaries) if (s.stats) indexed.set(s.id, s.stats);
  const unindexed = summaries.filter((s) => !s.stats).map((s) => s.id);
  for (const [id, stats] of await store.indexedStats(unindexed)) indexed.set(id, stats);
  type Details = Pick<CheckpointMeta, 'planName' | 'stats'>;
  const read = async (id: string): Promise<Details> => {
    const meta = await store.read(id);
    return {
      ...(meta.planName ? { planName: meta.planName } : {}),
      ...(meta.stats ? { stats: meta.stats } : {}),
    };
  };
  // Records to read: those without indexed stats, and the newest of each service plan.
  const toRead = new Set(summaries.filter((s) => !indexed.has(s.id)).map((s) => s.id));
  const newestOfPlan = new Map<string, string>();
  for (const s of options.planNames === false ? [] : summaries)
    if (SERVICE_PLAN_KEY.test(s.plan) && !newestOfPlan.has(s.plan)) newestOfPlan.set(s.plan, s.id);
  for (const id of newestOfPlan.values()) toRead.add(id);
  const details = new Map<string, Details>();
  const [first, ...rest] = [...toRead];
  if (first !== undefined) {
    let readable = true;
    try {
      details.set(first, await read(first));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      readable = code === 'CHECKPOINT_NOT_FOUND' || code === 'CHECKPOINT_CORRUPT';
    }
    if (readable) {
      const others = await mapLimit(rest, READ_CONCURRENCY, (id) => read(id).catch(() => undefined));
      rest.forEach((id, i) => {
        if (others[i]) details.set(id, others[i]);
      });
    }
  }
  return summaries.map((s) => {
    const stats = indexed.get(s.id) ?? details.get(s.id)?.stats;
    const planName = details.get(newestOfPlan.get(s.plan) ?? '')?.planName ?? details.get(s.id)?.planName;
    return { ...s, ...(planName ? { planName } : {}), ...(stats ? { stats } : {}) };
  });
}

/**
 * The record, with a working status whose process is gone turned into its failure status
 * (and stored so); CHECKPOINT_NOT_FOUND or CHECKPOINT_CORRUPT as `readCheckpoint`.
 */
export function getCheckpoint(provider: Provider, id: string): Promise<CheckpointMeta> {
  return new CheckpointStore(provider.bank).get(id);
}

/**
 * The log of the protect that made the checkpoint (its tasks, with what exec.task's commands
 * wrote), from the bank; undefined if it has none or it cannot be read.
 */
export async function protectLog(
  provider: Provider,
  meta: CheckpointMeta,
): Promise<OperationLog | undefined> {
  for (const op of meta.operations) {
    try {
      const log = JSON.parse(
        (await provider.bank.get(operationKey(meta.id, op))).toString('utf8'),
      ) as OperationLog;
      if (log.kind === 'protect' && Array.isArray(log.tasks)) return log;
    } catch {
      // a log that is gone or damaged tells nothing
    }
  }
  return undefined;
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
 * `limit`, oldest first: listings of the time index, which need no record read.
 */
export function checkpointsWithPrefix(provider: Provider, prefix: string, limit = 10): Promise<string[]> {
  return new CheckpointStore(provider.bank).idsWithPrefix(prefix, limit);
}
