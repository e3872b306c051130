/**
 * `protect`: a plan into a new checkpoint. The checkpoint is written `protecting` before
 * any hook runs, under a work lease the process keeps renewing; the engine journal goes
 * into the bank as the run goes; only at the end does the status become `available` or
 * `error`. A process killed at any moment leaves a `protecting` checkpoint whose lease
 * expires, which readers then show (and store) as `error`, and whose owed teardowns the
 * next protect against the bank runs.
 */
import { randomUUID } from 'node:crypto';
import type { Bank, Lease } from '../bank/index.js';
import { BankJournal } from '../checkpoints/journal.js';
import {
  CHECKPOINT_ID,
  checkpointLease,
  checkpointPrefix,
  journalPrefix,
  metaKey,
  newCheckpointId,
  operationKey,
} from '../checkpoints/keys.js';
import { type CheckpointMeta, CheckpointStore, PROCESS_OWNER } from '../checkpoints/store.js';
import type { EngineEvent } from '../engine/index.js';
import { type ErrorInfo, errorInfo, HoardError } from '../errors.js';
import { checkPlan, type Plan } from '../plans/plan.js';
import { describeValue } from '../plugins/contract.js';
import { type Parameters, parametersFor } from '../plugins/params.js';
import { validate } from '../plugins/schema.js';
import type { OperationParameters, ResourceStats } from '../plugins/sdk.js';
import type { Provider } from '../providers/provider.js';
import { discoverGraph, ResourceGraph } from '../resources/graph.js';
import { checkpointView, type OperationResult, operationParameters } from './checkpoint-view.js';
import type { HookTask } from './hook-graph.js';
import { type OperationLog, operationStore, runInProvider } from './operation.js';
import { proveReferences } from './references.js';
import type { HookTransport } from './transport.js';

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
  /** Carries hooks of resources with a `host` to their agents (SPEC §12); see OperationInput. */
  transport?: HookTransport;
}

const PENDING = 'index/pending/';

export async function protect(
  plan: Plan,
  provider: Provider,
  options: RunOptions = {},
): Promise<OperationResult> {
  checkPlan(plan, provider.registry);
  const store = new CheckpointStore(provider.bank);
  const recoveries = await recoverAbandoned(store, provider, options.transport);

  // A discovery that fails (a server down, a plugin's mistake) is an operation that failed,
  // not a bad plan: the checkpoint is made, with the plan's own resources, and ends `error`.
  let discovery: HoardError | undefined;
  let graph: ResourceGraph;
  try {
    graph = await discoverGraph(plan.resources, provider.registry.protectables(), {
      source: plan.source,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    const failed =
      error instanceof HoardError &&
      (error.code === 'DISCOVERY_FAILED' || error.code === 'HOOK_TIMEOUT') &&
      !options.signal?.aborted;
    if (!failed) throw error;
    discovery = error;
    graph = await discoverGraph(plan.resources, new Map(), { source: plan.source });
  }
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
    ...(plan.displayName && plan.displayName !== plan.name ? { planName: plan.displayName } : {}),
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
    if (discovery) {
      // Nothing ran: no hook, no teardown owed.
      const failed = await store.transition(id, ['protecting'], 'error', {
        resources: meta.resources.map((r) => ({ ...r, status: 'error' as const })),
        error: errorInfo(discovery),
      });
      await provider.bank.delete(`${PENDING}${id}`);
      return { checkpoint: checkpointView(failed) };
    }
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
    const contentStore = operationStore(provider.bank, `protect ${id}`, provider.bankType);
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
        ...(options.transport ? { transport: options.transport } : {}),
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
      // What recovering dead protects did is told in this one's log (their own logs have the rest).
      operation.log.unshift(...recoveries.map((r) => `recovery: ${r.message}`));
      await provider.bank.put(operationKey(id, operation.id), JSON.stringify(operation, null, 2));
      const ok = operation.status === 'succeeded';
      const final = await store.transition(id, ['protecting'], ok ? 'available' : 'error', {
        resources: operation.resources.map((r) => ({
          type: r.type,
          id: r.id,
          status: r.status === 'succeeded' || r.status === 'skipped' ? 'available' : 'error',
          ...(r.error ? { error: r.error } : {}),
          ...(r.stats ? { stats: r.stats } : {}),
        })),
        operations: [operation.id],
        stats: totalStats(operation),
        ...(operation.error ? { error: operation.error } : {}),
      });
      await provider.bank.delete(`${PENDING}${id}`);
      return { checkpoint: checkpointView(final), operation };
    } finally {
      await contentStore.release().catch(() => {});
    }
  }
}

/** The resources' statistics summed; `durationMs` is the run's wall time (hooks overlap). */
function totalStats(operation: OperationLog): ResourceStats {
  const total: ResourceStats = { files: 0, bytes: 0, newBytes: 0, storedBytes: 0, durationMs: 0 };
  for (const r of operation.resources) {
    if (!r.stats) continue;
    total.files += r.stats.files;
    total.bytes += r.stats.bytes;
    total.newBytes += r.stats.newBytes;
    total.storedBytes += r.stats.storedBytes;
  }
  const ended = operation.endedAt ? Date.parse(operation.endedAt) : Date.now();
  total.durationMs = Math.max(0, ended - Date.parse(operation.startedAt));
  return total;
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

/** How many protects try to recover a dead checkpoint that failed for a reason a retry may cure. */
export const RECOVERY_ATTEMPTS = 3;

/**
 * How long an owed teardown that sets no timeout of its own may run during recovery
 * (HOARD_RECOVERY_HOOK_TIMEOUT_MS, default 5 minutes): the protect that recovers it, and
 * whoever waits for that protect, must not wait for ever on a dead run's hung hook.
 */
export const RECOVERY_HOOK_TIMEOUT_MS = 300_000;

/** What recovery did with one dead checkpoint (a line of the next protect's operation log). */
export interface Recovery {
  checkpoint: string;
  /**
   * `recovered`: the teardowns its journal owed were run (some may have failed: see
   * `error`); `failed`: they could not be run; `nothing`: a marker with no protect behind it.
   */
  outcome: 'recovered' | 'failed' | 'nothing';
  message: string;
  error?: ErrorInfo;
  /** The marker stays: a later protect tries again. */
  retry: boolean;
}

/**
 * Finds checkpoints whose protect died (a pending marker whose lease is gone), runs the
 * teardowns their journal says are still owed, and leaves them `error`.
 *
 * Each dead checkpoint is recovered on its own and nothing about one stops another or the
 * protect that called this: whatever fails (a damaged journal or record, a plugin that
 * cannot give its teardowns, a type the provider no longer handles, the bank) is recorded
 * on that checkpoint — status `error`, its `error` naming the code, the object and what may
 * have been left prepared, an operation log — and returned. Its marker is then removed,
 * unless the failure is one a retry may cure (the bank, say): then up to
 * {@link RECOVERY_ATTEMPTS} protects in all try, and the last gives up. A damaged journal
 * or record is given up at once: retrying reads the same bytes.
 */
export async function recoverAbandoned(
  store: CheckpointStore,
  provider: Provider,
  transport?: HookTransport,
): Promise<Recovery[]> {
  const recoveries: Recovery[] = [];
  for (const key of await provider.bank.list(PENDING)) {
    const id = key.slice(PENDING.length);
    if (!CHECKPOINT_ID.test(id)) continue; // not a marker this code wrote
    let lease: Lease;
    try {
      const info = await provider.bank.leaseInfo(checkpointLease(id));
      if (info?.live) continue; // still being worked on
      lease = await store.acquireWork(id);
    } catch {
      continue; // another process is recovering it, or its lease cannot be read now
    }
    try {
      recoveries.push(await recoverOne(store, provider, id, key, transport));
    } finally {
      await provider.bank.releaseLease(lease).catch(() => {});
    }
  }
  return recoveries;
}

/**
 * Runs the teardowns a dead protect of checkpoint `id` still owes, if its pending marker says
 * it owes any: what must happen before the checkpoint (and its journal) is deleted, or its
 * application stays frozen. The caller holds the checkpoint's work lease.
 */
export async function recoverOwed(
  store: CheckpointStore,
  provider: Provider,
  id: string,
  transport?: HookTransport,
): Promise<Recovery | undefined> {
  const marker = `${PENDING}${id}`;
  if (!(await provider.bank.exists(marker))) return undefined;
  return recoverOne(store, provider, id, marker, transport);
}

/**
 * A recovery step failed: `damaged` when the checkpoint's own data is, so retrying cannot
 * help; `stage` says whether its teardowns ran before the failure.
 */
class RecoveryFailure extends Error {
  constructor(
    readonly error: unknown,
    readonly damaged: boolean,
    readonly stage: 'before' | 'during' | 'after',
  ) {
    super('recovery failed');
  }
}

async function recoverOne(
  store: CheckpointStore,
  provider: Provider,
  id: string,
  marker: string,
  transport: HookTransport | undefined,
): Promise<Recovery> {
  const startedAt = new Date().toISOString();
  let meta: CheckpointMeta | undefined;
  try {
    try {
      meta = await store.read(id);
    } catch (error) {
      if (!(error instanceof HoardError && error.code === 'CHECKPOINT_NOT_FOUND')) {
        const damaged = error instanceof SyntaxError || codeOf(error) === 'CHECKPOINT_CORRUPT';
        throw new RecoveryFailure(error, damaged, 'before');
      }
      // Killed between writing the marker and the record: nothing ran. Anything else under
      // the checkpoint's prefix means the record was lost.
      if ((await provider.bank.list(checkpointPrefix(id), { limit: 1 })).length > 0) {
        throw new RecoveryFailure(
          new HoardError('CHECKPOINT_NOT_FOUND', `${metaKey(id)} is missing but the checkpoint has data`, {
            details: { checkpoint: id, key: metaKey(id) },
          }),
          true,
          'before',
        );
      }
      await provider.bank.delete(marker);
      return {
        checkpoint: id,
        outcome: 'nothing',
        retry: false,
        message: `checkpoint ${id}: its protect died before writing its record; nothing to recover`,
      };
    }
    // A checkpoint being deleted keeps its journal until it is `deleted`: what it owes still runs.
    if (!['protecting', 'error', 'deleting', 'error_deleting'].includes(meta.status)) {
      await provider.bank.delete(marker);
      return {
        checkpoint: id,
        outcome: 'nothing',
        retry: false,
        message: `checkpoint ${id} is ${meta.status}; nothing to recover`,
      };
    }
    let graph: ResourceGraph;
    try {
      graph = ResourceGraph.fromJSON(meta.graph);
    } catch (error) {
      throw new RecoveryFailure(error, true, 'before');
    }
    const { parameters, unavailable } = recoveryParameters(graph, provider, meta.parameters, id);
    let operation: OperationLog;
    try {
      operation = await runInProvider(provider, id, meta.plan, {
        kind: 'protect',
        graph,
        parameters,
        unavailable,
        defaultTimeoutMs: Number(process.env.HOARD_RECOVERY_HOOK_TIMEOUT_MS) || RECOVERY_HOOK_TIMEOUT_MS,
        journal: new BankJournal(provider.bank, journalPrefix(id)),
        recover: 'teardowns',
        // Teardowns owed on a host go to that host's queue.
        ...(transport ? { transport } : {}),
      });
    } catch (error) {
      const corrupt = codeOf(error) === 'JOURNAL_CORRUPT';
      throw new RecoveryFailure(error, corrupt, corrupt ? 'before' : 'during');
    }
    try {
      return await recorded(store, provider, meta, marker, operation);
    } catch (error) {
      throw new RecoveryFailure(error, false, 'after');
    }
  } catch (thrown) {
    const failure = thrown instanceof RecoveryFailure ? thrown : new RecoveryFailure(thrown, false, 'during');
    return failed(store, provider, id, marker, meta, failure, startedAt);
  }
}

/**
 * The parameters saved in the checkpoint, checked resource by resource: a resource whose
 * type the provider no longer handles, or whose parameters its plugin now refuses, cannot
 * run its teardowns, but the others still can.
 */
function recoveryParameters(
  graph: ResourceGraph,
  provider: Provider,
  saved: Parameters,
  id: string,
): { parameters: Map<string, OperationParameters>; unavailable: Map<string, unknown> } {
  const parameters = new Map<string, OperationParameters>();
  const unavailable = new Map<string, unknown>();
  for (const node of graph.nodes) {
    try {
      const { spec } = provider.registry.handler(node.resource.type, `checkpoint ${id}`);
      const own = parametersFor(saved, node.resource);
      const schema = spec.schemas?.options;
      if (schema) validate(schema, own, `checkpoint ${id}: parameters for ${node.key}`);
      parameters.set(node.key, { parameters: own, protectParameters: own });
    } catch (error) {
      unavailable.set(node.key, error);
    }
  }
  return { parameters, unavailable };
}

/** The owed teardowns ran: the checkpoint is `error`, saying which of them failed. */
async function recorded(
  store: CheckpointStore,
  provider: Provider,
  meta: CheckpointMeta,
  marker: string,
  operation: OperationLog,
): Promise<Recovery> {
  const id = meta.id;
  await provider.bank.put(operationKey(id, operation.id), JSON.stringify(operation, null, 2));
  const failedTasks = operation.tasks.filter((t) => t.status === 'failed');
  const stopped = `the protect of checkpoint ${id} stopped before finishing`;
  const error = failedTasks.length
    ? new HoardError(
        'HOOK_FAILED',
        `${stopped}; ${failedTasks.length} of the teardowns it still owed failed (what they were to undo may still be prepared): ${failedTasks.map((t) => `${t.resource} ${t.hook}: ${t.error?.message ?? 'failed'}`).join('; ')}`,
        {
          details: {
            checkpoint: id,
            operation: operation.id,
            failed: failedTasks.map((t) => `${t.resource}:${t.hook}`),
            ...(meta.error ? { previousError: meta.error } : {}),
          },
        },
      )
    : new HoardError('LEASE_LOST', `${stopped}; owed teardowns were run`, {
        details: {
          checkpoint: id,
          operation: operation.id,
          ...(meta.error ? { previousError: meta.error } : {}),
        },
      });
  await markError(store, meta, [...meta.operations, operation.id], errorInfo(error));
  // Left behind, it only makes a later protect find nothing owed.
  await provider.bank.delete(marker).catch(() => {});
  return {
    checkpoint: id,
    outcome: 'recovered',
    retry: false,
    message: failedTasks.length ? error.message : `${stopped}; the teardowns it still owed were run`,
    ...(failedTasks.length ? { error: errorInfo(error) } : {}),
  };
}

/**
 * The owed teardowns could not be run. Says so on the checkpoint where it can (status
 * `error`, its `error`, an operation log), then removes the marker or, for a failure a retry
 * may cure, counts the attempt in it.
 */
async function failed(
  store: CheckpointStore,
  provider: Provider,
  id: string,
  marker: string,
  meta: CheckpointMeta | undefined,
  failure: RecoveryFailure,
  startedAt: string,
): Promise<Recovery> {
  const attempts = (await markerAttempts(provider.bank, marker)) + 1;
  const retry = !failure.damaged && attempts < RECOVERY_ATTEMPTS;
  const cause = failure.error;
  const why = cause instanceof Error ? cause.message : describeValue(cause);
  const resources = safely(() => ResourceGraph.fromJSON(meta!.graph).nodes.map((n) => n.key)) ?? [];
  const ran = {
    before: 'the teardowns it still owed were not run',
    during: 'the teardowns it still owed may not all have run',
    after: 'the teardowns it still owed were run, but recording that failed',
  }[failure.stage];
  const next = retry
    ? `a later protect tries again (attempt ${attempts} of ${RECOVERY_ATTEMPTS})`
    : failure.stage === 'after'
      ? 'recovery is given up'
      : `recovery is given up: check by hand whether ${resources.length ? resources.join(', ') : 'its resources'} were left prepared (frozen)`;
  const error = new HoardError(
    cause instanceof HoardError ? cause.code : 'LEASE_LOST',
    `recovering checkpoint ${id}, whose protect stopped before finishing, failed: ${why}; ${ran}; ${next}`,
    {
      details: {
        checkpoint: id,
        ...(cause instanceof HoardError ? cause.details : {}),
        attempts,
        retry,
        ...(resources.length ? { resources } : {}),
        ...(meta?.error ? { previousError: meta.error } : {}),
      },
      cause,
    },
  );
  const info = errorInfo(error);
  if (meta) {
    // Each step on its own: a bank that fails one may still take the others. What fails here
    // the next attempt, or the reader that finds the lease gone, marks.
    const log: OperationLog = {
      id: randomUUID(),
      kind: 'protect',
      status: 'failed',
      checkpoint: id,
      plan: meta.plan,
      startedAt,
      endedAt: new Date().toISOString(),
      error: info,
      resources: [],
      tasks: [],
      log: [`recovery: ${error.message}`],
    };
    const logged = await provider.bank.put(operationKey(id, log.id), JSON.stringify(log, null, 2)).then(
      () => true,
      () => false,
    );
    const operations = logged ? [...meta.operations, log.id] : meta.operations;
    await markError(store, meta, operations, info).catch(() => {});
  }
  await (retry
    ? provider.bank.put(marker, JSON.stringify({ attempts, error: why }))
    : provider.bank.delete(marker)
  ).catch(() => {});
  return { checkpoint: id, outcome: 'failed', retry, message: error.message, error: info };
}

/**
 * The checkpoint becomes `error` (compare-and-swap from `protecting`) with `error`; one that
 * already is (a reader found its lease gone, an earlier attempt failed) gets the new `error`
 * (which keeps the old one as `details.previousError`); both get their operations.
 */
async function markError(
  store: CheckpointStore,
  meta: CheckpointMeta,
  operations: string[],
  error: ErrorInfo,
): Promise<void> {
  // Resources still `protecting` never finished: they are in error too.
  const resources = meta.resources.map((r) =>
    r.status === 'protecting' ? { ...r, status: 'error' as const } : r,
  );
  if (meta.status === 'protecting') {
    try {
      await store.transition(meta.id, ['protecting'], 'error', { error, operations, resources });
      return;
    } catch (e) {
      if (!(e instanceof HoardError && e.code === 'CHECKPOINT_STATE')) throw e;
    }
  }
  await store.update(meta.id, { operations, error, resources });
}

/** Failed recovery attempts counted in a pending marker (a protect writes it empty). */
async function markerAttempts(bank: Bank, marker: string): Promise<number> {
  try {
    const body = JSON.parse((await bank.get(marker)).toString('utf8')) as { attempts?: unknown };
    return typeof body.attempts === 'number' && body.attempts >= 0 ? body.attempts : 0;
  } catch {
    return 0;
  }
}

function safely<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
