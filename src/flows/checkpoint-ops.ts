/**
 * Operations on an existing checkpoint: restore, verify, delete and copy. Each reads the
 * checkpoint's record from the bank alone (resource graph and protect-time parameters are
 * in it), runs its hook graph, and keeps an operation log next to the checkpoint.
 */
import type { Bank } from '../bank/index.js';
import { decodeSegment, metaKey, operationKey } from '../checkpoints/keys.js';
import { type CheckpointMeta, CheckpointStore, PROCESS_OWNER } from '../checkpoints/store.js';
import { errorInfo, HoardError } from '../errors.js';
import type { Parameters } from '../plugins/params.js';
import type { OperationParameters } from '../plugins/sdk.js';
import type { Provider } from '../providers/provider.js';
import { ResourceGraph } from '../resources/graph.js';
import { ContentStore, type PruneReport } from '../store/index.js';
import { decodeReferences, encodeReferences } from '../store/references.js';
import { checkIncludes, findResource } from './browse.js';
import {
  applyAssignments,
  checkpointView,
  type OperationResult,
  operationParameters,
} from './checkpoint-view.js';
import { operationHookGraph, operationStore, requireReadable, runInProvider } from './operation.js';

export { requireReadable };

import { checkpointSection, type RunOptions, recoverOwed, withWorkLease } from './protect.js';
import { checkpointReferences, proveReferences, referencedBlobs, referenceKeys } from './references.js';

export interface RestoreOptions extends RunOptions {
  /** Restore parameters, same shape as plan parameters (`type` or `type#id` keys). */
  parameters?: Parameters;
  /** `--param` assignments (`TYPE#ID.field=value`), applied over `parameters`. */
  assignments?: readonly string[];
  /** Sets `target` of the one resource that takes a target. */
  target?: string;
  /** Allow restoring over existing data. */
  overwrite?: boolean;
  /**
   * Restore only these paths (`--include`): sets `include` of the one resource whose plugin
   * lists entries (fs.directory); a path not in the checkpoint is PATH_NOT_FOUND, before
   * anything runs.
   */
  include?: readonly string[];
  /**
   * Only these resources (`type#id`, or an id alone when one resource has it; `--resource`):
   * the others' hooks do not run. Order between the chosen ones holds as in the checkpoint.
   * An unknown one is RESOURCE_NOT_FOUND, before anything runs.
   */
  resources?: readonly string[];
}

export async function restore(
  id: string,
  provider: Provider,
  options: RestoreOptions = {},
): Promise<OperationResult> {
  return runPrepared(provider, options, await prepareRestore(id, provider, options));
}

export async function verify(
  id: string,
  provider: Provider,
  options: RestoreOptions = {},
): Promise<OperationResult> {
  return runPrepared(provider, options, await prepareVerify(id, provider, options));
}

/** A restore or verify checked and ready to run: what `restore` and `verify` run. */
export interface PreparedOperation {
  kind: 'restore' | 'verify';
  meta: CheckpointMeta;
  graph: ResourceGraph;
  /** Per resource key (`type#id`): the validated parameters the hooks will get. */
  parameters: Map<string, OperationParameters>;
}

/**
 * Checks a restore of checkpoint `id` as `restore` would (the checkpoint is available, the
 * target applies to exactly one resource, every parameter fits its plugin's schema) without
 * running anything, so a server can refuse bad input before it accepts the work.
 */
export async function prepareRestore(
  id: string,
  provider: Provider,
  options: RestoreOptions = {},
): Promise<PreparedOperation> {
  const prepared = await prepare('restore', id, provider, options, (graph, given) => {
    const params = applyAssignments(given, options.assignments ?? [], graph);
    const targets = graph.nodes.filter((n) => provider.registry.handler(n.resource.type).spec.restoreTarget);
    if (options.target !== undefined) {
      if (targets.length !== 1) {
        throw new HoardError(
          'USAGE',
          `--target needs exactly one resource that takes a target; checkpoint ${id} has ${targets.length}${
            targets.length
              ? ` (${targets.map((t) => t.key).join(', ')}): use --param 'TYPE#ID.target=PATH'`
              : ''
          }`,
        );
      }
      const key = targets[0]!.key;
      params[key] = { ...params[key], target: options.target };
    }
    if (options.overwrite) for (const t of targets) params[t.key] = { ...params[t.key], overwrite: true };
    if (options.include !== undefined) {
      const partial = graph.nodes.filter(
        (n) => provider.registry.handler(n.resource.type).spec.browse?.entries,
      );
      if (partial.length !== 1) {
        throw new HoardError(
          'USAGE',
          `--include needs exactly one resource whose files can be chosen; checkpoint ${id} has ${partial.length}${
            partial.length
              ? ` (${partial.map((t) => t.key).join(', ')}): use --param 'TYPE#ID.include=["PATH"]'`
              : ''
          }`,
        );
      }
      const key = partial[0]!.key;
      params[key] = { ...params[key], include: [...options.include] };
    }
    return params;
  });
  // Every included path must be in the checkpoint: said now, naming it, not half-way through.
  const include = new Map<string, string[]>();
  for (const [key, { parameters }] of prepared.parameters)
    if (Array.isArray(parameters.include)) include.set(key, parameters.include as string[]);
  if (include.size > 0) await checkIncludes(provider, prepared.meta, include);
  return prepared;
}

/** Checks a verify of checkpoint `id` as `verify` would, without running anything. */
export function prepareVerify(id: string, provider: Provider, options: RestoreOptions = {}) {
  return prepare('verify', id, provider, options, (graph, given) =>
    applyAssignments(given, options.assignments ?? [], graph),
  );
}

async function prepare(
  kind: 'restore' | 'verify',
  id: string,
  provider: Provider,
  options: RestoreOptions,
  shape: (graph: ResourceGraph, given: Parameters) => Parameters,
): Promise<PreparedOperation> {
  await requireReadable(provider, kind);
  const store = new CheckpointStore(provider.bank);
  const meta = await store.get(id);
  if (meta.status !== 'available') {
    throw new HoardError(
      'CHECKPOINT_STATE',
      `checkpoint ${id} is ${meta.status}; only an available checkpoint can be ${kind === 'restore' ? 'restored' : 'verified'}`,
      {
        details: { checkpoint: id, status: meta.status },
      },
    );
  }
  const whole = ResourceGraph.fromJSON(meta.graph);
  const graph =
    options.resources === undefined ? whole : whole.subgraph(chosenResources(meta, options.resources));
  if (graph !== whole) {
    const kept = new Set(graph.nodes.flatMap((n) => [n.key, n.resource.type]));
    for (const key of Object.keys(options.parameters ?? {}))
      if (!kept.has(key) && (whole.get(key) || whole.nodes.some((n) => n.resource.type === key)))
        throw new HoardError(
          'PARAMS_INVALID',
          `${kind} parameters: parameters["${key}"] names a resource that is not chosen (--resource); choose it too, or drop its parameters`,
          { details: { parameter: key } },
        );
  }
  const given = shape(graph, options.parameters ?? {});
  const parameters = operationParameters(
    kind,
    graph,
    provider.registry,
    given,
    meta.parameters,
    `${kind} parameters`,
  );
  return { kind, meta, graph, parameters };
}

/** The keys of `given` in the checkpoint, each once; none given is a usage error. */
function chosenResources(meta: CheckpointMeta, given: readonly string[]): Set<string> {
  if (given.length === 0)
    throw new HoardError(
      'USAGE',
      `no resource chosen: name one or more of ${meta.resources.map((r) => `${r.type}#${r.id}`).join(', ')}`,
    );
  return new Set(given.map((r) => findResource(meta, r)));
}

async function runPrepared(
  provider: Provider,
  options: RestoreOptions,
  { kind, meta, graph, parameters }: PreparedOperation,
): Promise<OperationResult> {
  const { id } = meta;
  const operation = await runInProvider(provider, id, meta.plan, {
    kind,
    graph,
    parameters,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.transport ? { transport: options.transport } : {}),
  });
  await provider.bank.put(operationKey(id, operation.id), JSON.stringify(operation, null, 2));
  const updated = await new CheckpointStore(provider.bank).update(id, {
    operations: [...meta.operations, operation.id],
  });
  return { checkpoint: checkpointView(updated), operation };
}

/**
 * Runs each plugin's delete operation, then removes every key of the checkpoint. A failed
 * delete operation leaves the checkpoint `error_deleting` with its data, to be retried (by
 * deleting it again, or by `gc`). Once the hooks succeeded the checkpoint is `deleted` at
 * once (it is gone from listings, and its hooks never run again), then its keys are removed,
 * its record last: a delete killed after that point is finished by the next delete of the
 * same id or by `gc`.
 */
export async function deleteCheckpoint(
  id: string,
  provider: Provider,
  options: RunOptions & { collect?: boolean } = {},
): Promise<OperationResult> {
  const store = new CheckpointStore(provider.bank);
  const meta = await store.get(id);
  if (meta.status === 'deleted') {
    // What a killed delete left: its record and maybe some keys. Finish it.
    await store.removeAll(id, meta.plan);
    return { checkpoint: checkpointView(meta) };
  }
  return withWorkLease(store, id, options.signal, async (signal) => {
    // A protect that died owing teardowns (a thaw) has them run now, while its journal exists.
    const recovery = await recoverOwed(store, provider, id, options.transport);
    if (recovery?.retry) {
      throw new HoardError(
        'CHECKPOINT_STATE',
        `checkpoint ${id} cannot be deleted yet: the teardowns its dead protect owes could not be run (${recovery.message})`,
        { details: { checkpoint: id } },
      );
    }
    const deleting = await store.transition(id, ['available', 'error', 'error_deleting'], 'deleting');
    const graph = ResourceGraph.fromJSON(meta.graph);
    const parameters = operationParameters('delete', graph, provider.registry, {}, meta.parameters, 'delete');
    const operation = await runInProvider(provider, id, meta.plan, {
      kind: 'delete',
      graph,
      parameters,
      signal,
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.transport ? { transport: options.transport } : {}),
    });
    if (operation.status !== 'succeeded') {
      await provider.bank.put(operationKey(id, operation.id), JSON.stringify(operation, null, 2));
      const failed = await store.transition(id, ['deleting'], 'error_deleting', {
        operations: [...deleting.operations, operation.id],
      });
      return { checkpoint: checkpointView(failed), operation };
    }
    const deleted = await store.transition(id, ['deleting'], 'deleted');
    await store.removeAll(id, meta.plan);
    if (options.collect === false) return { checkpoint: checkpointView(deleted), operation };
    // Data shared with other checkpoints stays; what only this one used goes now.
    const gc = await collectAfterDelete(provider);
    return { checkpoint: checkpointView(deleted), operation, gc };
  });
}

/**
 * Checks a copy of checkpoint `id` from `from` to `to` as `copyCheckpoint` does before it
 * writes anything (another provider, the checkpoint available, every type handled there, not
 * already there), so a server can refuse it before it accepts the work.
 */
export async function prepareCopy(
  id: string,
  from: Provider,
  to: Provider,
): Promise<{ meta: CheckpointMeta; graph: ResourceGraph }> {
  if (from.id === to.id) throw new HoardError('USAGE', `checkpoint ${id} is already in provider ${to.name}`);
  const meta = await new CheckpointStore(from.bank).get(id);
  if (meta.status !== 'available') {
    throw new HoardError(
      'CHECKPOINT_STATE',
      `checkpoint ${id} is ${meta.status}; only an available checkpoint can be copied`,
      {
        details: { checkpoint: id, status: meta.status },
      },
    );
  }
  const graph = ResourceGraph.fromJSON(meta.graph);
  for (const node of graph.nodes) to.registry.handler(node.resource.type, `provider ${to.name}`);
  if (await renamesBlobs(from, to)) await checkRenamable(id, from, to, graph, meta.parameters);
  if (await to.bank.exists(metaKey(id))) {
    throw new HoardError('CHECKPOINT_STATE', `provider ${to.name} already has checkpoint ${id}`, {
      details: { checkpoint: id, provider: to.name },
    });
  }
  return { meta, graph };
}

/** After a delete: collect what it freed, unless an operation holds the store right now (then later). */
async function collectAfterDelete(provider: Provider): Promise<PruneReport | { skipped: string }> {
  if (!(await provider.bank.readsAll())) {
    return {
      skipped:
        'the bank is write-only here (public-key mode without the identity): run gc where the identity is',
    };
  }
  try {
    return await new ContentStore(provider.bank).prune(() => referencedBlobs(provider), {
      owner: PROCESS_OWNER,
    });
  } catch (error) {
    if (error instanceof HoardError && error.code === 'STORE_BUSY') return { skipped: error.message };
    throw error;
  }
}

/**
 * Copies an available checkpoint into another provider's bank under the same id: the
 * target is `copying` until every object is across and the plugins' copy hooks ran.
 */
export async function copyCheckpoint(
  id: string,
  from: Provider,
  to: Provider,
  options: RunOptions = {},
): Promise<OperationResult> {
  const { meta, graph } = await prepareCopy(id, from, to);
  const target = new CheckpointStore(to.bank);
  return withWorkLease(target, id, options.signal, async (signal) => {
    const now = new Date().toISOString();
    await target.create({
      ...meta,
      status: 'copying',
      provider: { id: to.id, name: to.name },
      updatedAt: now,
      operations: [],
    });
    // Both stores are held until the copy's final status is written: no collector may move
    // what is being read, nor remove what was written or deduplicated against.
    const fromStore = operationStore(from.bank, `copy ${id} to ${to.name}`);
    const toStore = operationStore(to.bank, `copy ${id} from ${from.name}`, to.bankType);
    try {
      const fromSection = checkpointSection(from.bank, id);
      const toSection = checkpointSection(to.bank, id);
      for (let marker: string | undefined; ; ) {
        const keys = await fromSection.list('', { limit: 500, ...(marker ? { marker } : {}) });
        if (keys.length === 0) break;
        for (const key of keys) {
          if (key === 'meta.json') continue;
          signal.throwIfAborted();
          await toSection.put(key, await fromSection.getStream(key));
        }
        marker = keys[keys.length - 1];
      }
      const blobIds = await copyBlobs(
        from.bank,
        fromStore,
        toStore,
        id,
        signal,
        await renamesBlobs(from, to),
      );
      if (blobIds) await renameReferences(to.bank, id, blobIds);
      const parameters = operationParameters('copy', graph, to.registry, {}, meta.parameters, 'copy');
      const operation = await runInProvider(to, id, meta.plan, {
        kind: 'copy',
        graph,
        parameters,
        store: toStore,
        signal,
        ...(blobIds ? { blobIds } : {}),
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        ...(options.transport ? { transport: options.transport } : {}),
      });
      if (operation.status === 'succeeded') {
        try {
          await proveReferences(toStore, to.bank, id);
          await options.beforeCommit?.();
        } catch (error) {
          operation.status = 'failed';
          operation.error = errorInfo(error);
        }
      }
      await to.bank.put(operationKey(id, operation.id), JSON.stringify(operation, null, 2));
      const final = await target.transition(
        id,
        ['copying'],
        operation.status === 'succeeded' ? 'available' : 'error',
        {
          operations: [operation.id],
          ...(operation.error ? { error: operation.error } : {}),
        },
      );
      return { checkpoint: checkpointView(final), operation };
    } catch (error) {
      await target.transition(id, ['copying'], 'error').catch(() => {});
      throw error;
    } finally {
      await fromStore.release().catch(() => {});
      await toStore.release().catch(() => {});
    }
  });
}

/**
 * Copies the content-store blobs the checkpoint refers to (its `blobs` objects) that the
 * target lacks. With `rename` (the stores name blobs differently: see `renamesBlobs`) every
 * blob is written again, and the map from each source id to its id in the target returned.
 */
async function copyBlobs(
  fromBank: Bank,
  source: ContentStore,
  target: ContentStore,
  id: string,
  signal: AbortSignal,
  rename: boolean,
): Promise<Map<string, string> | undefined> {
  const references = await checkpointReferences(fromBank, id);
  const renamed = rename ? new Map<string, string>() : undefined;
  if (references.size === 0) return renamed;
  const writer = await target.openWriter(`copy ${id}`, { signal });
  try {
    // Looked up after the writer's lease: what the target has now, it keeps.
    const lacking = renamed ? references : await target.lacking(references, { storedPacks: true });
    for (const blob of [...lacking].sort()) {
      signal.throwIfAborted();
      const { id: copied } = await writer.writeBlob(await source.readBlob(blob));
      if (renamed) renamed.set(blob, copied);
      else if (copied !== blob)
        throw new HoardError('STORE_CORRUPT', `copying blob ${blob} of checkpoint ${id} produced ${copied}`);
    }
    await writer.close();
  } catch (error) {
    await writer.abort().catch(() => {});
    throw error;
  }
  return renamed;
}

/**
 * True if the two banks name blobs differently: one is encrypted and the other not, or they
 * are two encrypted repositories (each names blobs by HMAC under its own key).
 */
async function renamesBlobs(from: Provider, to: Provider): Promise<boolean> {
  // Read only: prepareCopy asks this before anything is written. An encrypted target that is
  // still empty has no keys yet; the ones its first write makes are new, so they differ too.
  const [a, b] = await Promise.all([from.bank.contentKeys(), to.bank.contentKeys()]);
  if (a === undefined && b === undefined) return to.encryption !== 'none' && from.encryption === 'none';
  return a === undefined || b === undefined || !a.idKey.equals(b.idKey);
}

/**
 * A copy that renames blobs rewrites each resource's `blobs` object itself, and each plugin
 * rewrites the ids in its own objects in its copy `main` hook (`ctx.blobIds`). A resource that
 * keeps blobs but whose plugin has no such hook cannot be copied so: refused before anything
 * is written, rather than copied with ids that name nothing.
 */
async function checkRenamable(
  id: string,
  from: Provider,
  to: Provider,
  graph: ResourceGraph,
  saved: CheckpointMeta['parameters'],
): Promise<void> {
  const keeping = new Set(
    (await referenceKeys(from.bank, id)).map((key) => decodeSegment(key.split('/').at(-2) ?? '')),
  );
  if (keeping.size === 0) return;
  const hooks = operationHookGraph({
    kind: 'copy',
    graph,
    registry: to.registry,
    parameters: operationParameters('copy', graph, to.registry, {}, saved, 'copy'),
  });
  for (const resource of keeping) {
    if (!hooks.tasks.some((t) => t.data?.resource === resource && t.data.hook === 'main' && t.data.impl)) {
      throw new HoardError(
        'USAGE',
        `checkpoint ${id} cannot be copied from provider ${from.name} to ${to.name}: their banks name blobs differently (encryption), and the plugin of ${resource} has no copy hook to rename the blob ids it keeps`,
        { details: { checkpoint: id, resource } },
      );
    }
  }
}

/** Rewrites the checkpoint's `blobs` objects in `bank` with the target's ids. */
async function renameReferences(bank: Bank, id: string, blobIds: ReadonlyMap<string, string>): Promise<void> {
  for (const key of await referenceKeys(bank, id)) {
    const ids = decodeReferences(key, await bank.get(key));
    await bank.put(key, encodeReferences(ids.map((old) => renamed(blobIds, old))));
  }
}

function renamed(blobIds: ReadonlyMap<string, string>, old: string): string {
  const id = blobIds.get(old);
  if (id === undefined) throw new HoardError('INTERNAL', `blob ${old} was not copied`);
  return id;
}
