/**
 * `protect`: a plan into a new checkpoint. The checkpoint is written `protecting` before
 * any hook runs, under a work lease the process keeps renewing; the engine journal goes
 * into the bank as the run goes; only at the end does the status become `available` or
 * `error`. A process killed at any moment leaves a `protecting` checkpoint whose lease
 * expires, which readers then show (and store) as `error`, and whose owed teardowns the
 * next protect against the bank runs.
 */
import type { Bank, Lease } from '../bank/index.js';
import { BankJournal } from '../checkpoints/journal.js';
import { checkpointPrefix, journalPrefix, newCheckpointId, operationKey } from '../checkpoints/keys.js';
import { type CheckpointMeta, CheckpointStore, PROCESS_OWNER } from '../checkpoints/store.js';
import type { EngineEvent } from '../engine/index.js';
import { errorInfo, HoardError } from '../errors.js';
import { checkPlan, type Plan } from '../plans/plan.js';
import type { Provider } from '../providers/provider.js';
import { discoverGraph, ResourceGraph } from '../resources/graph.js';
import { checkpointView, type OperationResult, operationParameters } from './checkpoint-view.js';
import type { HookTask } from './hook-graph.js';
import { operationStore, runInProvider } from './operation.js';
import { proveReferences } from './references.js';

export interface RunOptions {
  signal?: AbortSignal;
  concurrency?: number;
  onEvent?: (event: EngineEvent, task: HookTask | undefined) => void;
  /** Protect: called with the new checkpoint's id once its record is in the bank. */
  onCheckpoint?: (id: string) => void;
  /**
   * Protect and copy, for tests that force a collector into this gap: called once the
   * checkpoint's data is proven and before its status becomes available.
   */
  beforeCommit?: () => Promise<void>;
}

const PENDING = 'index/pending/';

export async function protect(
  plan: Plan,
  provider: Provider,
  options: RunOptions = {},
): Promise<OperationResult> {
  checkPlan(plan, provider.registry);
  const store = new CheckpointStore(provider.bank);
  await recoverAbandoned(store, provider);

  const graph = await discoverGraph(plan.resources, provider.registry.protectables(), {
    source: plan.source,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const parameters = operationParameters(
    'protect',
    graph,
    provider.registry,
    plan.parameters,
    {},
    plan.source,
  );

  // What the plan's last good checkpoint holds lets plugins skip what did not change.
  const previous = (await store.list({ plan: plan.name, status: 'available', limit: 1 })).checkpoints[0]?.id;
  const id = newCheckpointId();
  const now = new Date().toISOString();
  const meta: CheckpointMeta = {
    version: 1,
    id,
    plan: plan.name,
    provider: { id: provider.id, name: provider.name },
    status: 'protecting',
    createdAt: now,
    updatedAt: now,
    owner: PROCESS_OWNER,
    resources: graph.nodes.map((n) => ({ type: n.resource.type, id: n.resource.id, status: 'protecting' })),
    graph: graph.toJSON(),
    parameters: plan.parameters,
    operations: [],
  };
  return withWorkLease(store, id, options.signal, async (signal) => {
    await provider.bank.put(`${PENDING}${id}`, '');
    await store.create(meta);
    options.onCheckpoint?.(id);
    try {
      return await protectCheckpoint(signal);
    } catch (error) {
      // Whatever went wrong outside the hooks (the bank, say), never leave it looking alive.
      await store.transition(id, ['protecting'], 'error', { error: errorInfo(error) }).catch(() => {});
      throw error;
    }
  });

  async function protectCheckpoint(signal: AbortSignal): Promise<OperationResult> {
    // Held from the first use of the store until the final status is written: no collector
    // can remove what this protect wrote or deduplicated against before it is referenced.
    const contentStore = operationStore(provider.bank, `protect ${id}`);
    try {
      const operation = await runInProvider(provider, id, plan.name, {
        kind: 'protect',
        graph,
        parameters,
        ...(previous ? { previousCheckpoint: previous } : {}),
        journal: new BankJournal(provider.bank, journalPrefix(id)),
        store: contentStore,
        signal,
        ...(options.concurrency ? { concurrency: options.concurrency } : {}),
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      });
      if (operation.status === 'succeeded') {
        try {
          await proveReferences(contentStore, provider.bank, id);
          await options.beforeCommit?.();
        } catch (error) {
          operation.status = 'failed';
          operation.error = errorInfo(error);
        }
      }
      await provider.bank.put(operationKey(id, operation.id), JSON.stringify(operation, null, 2));
      const ok = operation.status === 'succeeded';
      const final = await store.transition(id, ['protecting'], ok ? 'available' : 'error', {
        resources: operation.resources.map((r) => ({
          type: r.type,
          id: r.id,
          status: r.status === 'succeeded' || r.status === 'skipped' ? 'available' : 'error',
          ...(r.error ? { error: r.error } : {}),
        })),
        operations: [operation.id],
        ...(operation.error ? { error: operation.error } : {}),
      });
      await provider.bank.delete(`${PENDING}${id}`);
      return { checkpoint: checkpointView(final), operation };
    } finally {
      await contentStore.release().catch(() => {});
    }
  }
}

/** The checkpoint's own section of a bank (`checkpoints/<id>/…`). */
export function checkpointSection(bank: Bank, id: string): Bank {
  return bank.section(checkpointPrefix(id));
}

/**
 * Runs `work` holding the checkpoint's work lease, renewed every third of its time to live.
 * Losing the lease (another process broke it) aborts the work through its signal.
 */
export async function withWorkLease<T>(
  store: CheckpointStore,
  id: string,
  outer: AbortSignal | undefined,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const lease: Lease = await store.acquireWork(id);
  const controller = new AbortController();
  const onOuter = () => controller.abort(outer?.reason);
  if (outer?.aborted) onOuter();
  outer?.addEventListener('abort', onOuter, { once: true });
  let current = lease;
  const timer = setInterval(
    () => {
      store.bank.renewLease(current).then(
        (renewed) => {
          current = renewed;
        },
        (error) =>
          controller.abort(
            new HoardError('LEASE_LOST', `lost the lease on checkpoint ${id}: ${(error as Error).message}`, {
              cause: error,
            }),
          ),
      );
    },
    Math.max(50, store.leaseTtlMs / 3),
  );
  try {
    return await work(controller.signal);
  } finally {
    clearInterval(timer);
    outer?.removeEventListener('abort', onOuter);
    await store.bank.releaseLease(current).catch(() => {});
  }
}

/**
 * Finds checkpoints whose protect died (a pending marker whose lease is gone), runs the
 * teardowns their journal says are still owed, and leaves them `error`.
 */
export async function recoverAbandoned(store: CheckpointStore, provider: Provider): Promise<string[]> {
  const recovered: string[] = [];
  for (const key of await provider.bank.list(PENDING)) {
    const id = key.slice(PENDING.length);
    const info = await provider.bank.leaseInfo(`checkpoint-${id}`);
    if (info && info.expiresAt > Date.now()) continue; // still being worked on
    let lease: Lease;
    try {
      lease = await store.acquireWork(id);
    } catch {
      continue; // another process is recovering it
    }
    try {
      const meta = await store.read(id).catch(() => undefined);
      if (meta && (meta.status === 'protecting' || meta.status === 'error')) {
        const graph = ResourceGraph.fromJSON(meta.graph);
        const parameters = operationParameters(
          'protect',
          graph,
          provider.registry,
          meta.parameters,
          {},
          `checkpoint ${id}`,
        );
        const operation = await runInProvider(provider, id, meta.plan, {
          kind: 'protect',
          graph,
          parameters,
          journal: new BankJournal(provider.bank, journalPrefix(id)),
          recover: 'teardowns',
        });
        await provider.bank.put(operationKey(id, operation.id), JSON.stringify(operation, null, 2));
        const error = errorInfo(
          new HoardError(
            'LEASE_LOST',
            `the protect of checkpoint ${id} stopped before finishing; owed teardowns were run`,
          ),
        );
        if (meta.status === 'protecting') {
          await store.transition(id, ['protecting'], 'error', {
            error,
            operations: [...meta.operations, operation.id],
          });
        } else {
          await store.update(id, { operations: [...meta.operations, operation.id] });
        }
      }
      await provider.bank.delete(key);
      recovered.push(id);
    } finally {
      await provider.bank.releaseLease(lease).catch(() => {});
    }
  }
  return recovered;
}
