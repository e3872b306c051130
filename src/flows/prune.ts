/**
 * `prune`: applies a retention policy to a plan's checkpoints and deletes what it says may
 * go (each through the normal delete, so plugins' delete hooks run and shared data stays).
 */
import { CheckpointStore, type CheckpointSummary } from '../checkpoints/store.js';
import type { Provider } from '../providers/provider.js';
import { deleteCheckpoint } from './checkpoint-ops.js';
import { type Decision, decide, type Policy } from './retention.js';

export interface PruneResult {
  plan: string;
  policy: Policy;
  dryRun: boolean;
  /** Checkpoints a killed or failed delete left `error_deleting`, deleted again first (not in a dry run). */
  retried: { id: string; deleted: boolean; error?: string }[];
  decisions: (Decision & { createdAt: string; status: string; deleted?: boolean; error?: string })[];
}

/**
 * The checkpoints the prune was to delete and did not (none in a dry run): what makes a prune
 * fail, for the CLI (exit 1) and the service (RETENTION_INCOMPLETE) alike.
 */
export function pruneShortfall(result: PruneResult): string[] {
  if (result.dryRun) return [];
  return [
    ...result.retried.filter((r) => !r.deleted).map((r) => r.id),
    ...result.decisions.filter((d) => !d.keep && !d.deleted).map((d) => d.id),
  ];
}

export async function prunePlan(
  plan: string,
  provider: Provider,
  policy: Policy,
  options: { dryRun?: boolean; now?: Date; signal?: AbortSignal } = {},
): Promise<PruneResult> {
  const store = new CheckpointStore(provider.bank);
  const history: CheckpointSummary[] = [];
  for (let marker: string | undefined; ; ) {
    const page = await store.list({ plan, limit: 500, ...(marker ? { marker } : {}) });
    history.push(...page.checkpoints);
    if (!page.next) break;
    marker = page.next;
  }
  // Deletes of this plan that were killed or failed are tried again first.
  const retried: PruneResult['retried'] = [];
  for (const c of history.filter((h) => h.status === 'error_deleting')) {
    if (options.dryRun) {
      retried.push({ id: c.id, deleted: false });
      continue;
    }
    try {
      const result = await deleteCheckpoint(c.id, provider, options.signal ? { signal: options.signal } : {});
      c.status = result.checkpoint.status as CheckpointSummary['status'];
      retried.push({ id: c.id, deleted: c.status === 'deleted' });
    } catch (error) {
      retried.push({ id: c.id, deleted: false, error: (error as Error).message });
    }
  }
  const remaining = history.filter((c) => c.status !== 'deleted');
  history.length = 0;
  history.push(...remaining);
  const byId = new Map(history.map((c) => [c.id, c]));
  const decisions = decide(
    history.map((c) => ({ id: c.id, createdAt: new Date(c.createdAt), status: c.status })),
    policy,
    options.now ?? new Date(),
  );
  const result: PruneResult = { plan, policy, dryRun: options.dryRun === true, retried, decisions: [] };
  for (const d of decisions) {
    const c = byId.get(d.id)!;
    const row: PruneResult['decisions'][number] = { ...d, createdAt: c.createdAt, status: c.status };
    if (!d.keep && !options.dryRun) {
      try {
        const deleted = await deleteCheckpoint(
          d.id,
          provider,
          options.signal ? { signal: options.signal } : {},
        );
        row.deleted = deleted.checkpoint.status === 'deleted';
      } catch (error) {
        row.deleted = false;
        row.error = (error as Error).message;
      }
    }
    result.decisions.push(row);
  }
  return result;
}
