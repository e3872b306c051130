/**
 * The hook graph an operation would run, for `hoard graph`, the API and the dashboard:
 * from a plan (protect, before any checkpoint exists) or from a checkpoint's own record.
 */
import type { CheckpointMeta } from '../checkpoints/store.js';
import { checkPlan, type Plan } from '../plans/plan.js';
import type { OperationKind } from '../plugins/sdk.js';
import type { Provider } from '../providers/provider.js';
import { discoverGraph, ResourceGraph } from '../resources/graph.js';
import { operationParameters } from './checkpoint-view.js';
import type { EdgeKind, HookGraph } from './hook-graph.js';
import { operationHookGraph } from './operation.js';

/** `hoard graph --format json` and `GET …/graph`. */
export interface HookGraphJson {
  tasks: { id: string; resource: string; hook: string; implemented: boolean }[];
  edges: { from: string; to: string; kind: EdgeKind }[];
}

export async function planHookGraph(
  plan: Plan,
  provider: Provider,
  kind: OperationKind,
  signal?: AbortSignal,
): Promise<HookGraph> {
  checkPlan(plan, provider.registry);
  const graph = await discoverGraph(plan.resources, provider.registry.protectables(), {
    source: plan.source,
    ...(signal ? { signal } : {}),
  });
  // Other operations' parameters (a restore's target…) are given when they run: the graph
  // is drawn without them.
  const given = kind === 'protect' ? plan.parameters : {};
  const parameters = operationParameters(
    kind,
    graph,
    provider.registry,
    given,
    plan.parameters,
    plan.source,
    {
      preview: kind !== 'protect',
    },
  );
  return operationHookGraph({ kind, graph, registry: provider.registry, parameters });
}

export function checkpointHookGraph(
  meta: CheckpointMeta,
  provider: Provider,
  kind: OperationKind,
): HookGraph {
  const graph = ResourceGraph.fromJSON(meta.graph);
  const given = kind === 'protect' ? meta.parameters : {};
  const parameters = operationParameters(
    kind,
    graph,
    provider.registry,
    given,
    meta.parameters,
    `checkpoint ${meta.id}`,
    { preview: kind !== 'protect' },
  );
  return operationHookGraph({ kind, graph, registry: provider.registry, parameters });
}

export function hookGraphJson(hooks: HookGraph): HookGraphJson {
  return {
    tasks: hooks.tasks.map((t) => ({
      id: t.id,
      resource: t.data!.resource,
      hook: t.data!.hook,
      implemented: t.data!.impl !== undefined,
    })),
    edges: hooks.edges.map((e) => ({ from: e.from, to: e.to, kind: e.kind })),
  };
}
