/**
 * The hook graph (SPEC §2): four tasks per resource — prepareBegin (PB), prepareFinish (PF),
 * main (M), complete (C) — and, for every parent P and child K:
 *
 *   green  PB(P) → PB(K)    indigo PB(R) → PF(R)    purple PF(K) → PF(P)
 *   yellow PF(R) → M(R)     red    M(R) → C(R)      black  C(K) → C(P)
 *
 * PF is the teardown of PB (it runs whenever PB succeeded), and so is any hook the plugin
 * marks `alwaysRun`. A hook the plugin does not implement becomes a task without `run`: it
 * costs nothing but keeps the order it implies.
 */
import { TaskGraph, type TaskSpec } from '../engine/index.js';
import type { Hook, HookName, Operation } from '../plugins/sdk.js';
import type { ResourceGraph } from '../resources/graph.js';

export type EdgeKind = 'green' | 'indigo' | 'purple' | 'yellow' | 'red' | 'black';

export interface HookTask {
  /** `type#id` */
  resource: string;
  hook: HookName;
  /** The plugin's hook, if it implements one. */
  impl: Hook | undefined;
  timeoutMs: number | undefined;
  /** The resource's host: its hooks are handed to a transport (SPEC §12); undefined runs here. */
  host?: string;
  /** The plugin declares this hook idempotent (it may run again after its agent died). */
  idempotent?: boolean;
  /** It runs whenever its resource's prepareBegin succeeded (prepareFinish, alwaysRun hooks). */
  teardown?: boolean;
}

export interface HookEdge {
  from: string;
  to: string;
  kind: EdgeKind;
}

export interface HookGraph {
  tasks: TaskSpec<HookTask>[];
  edges: HookEdge[];
}

const METHOD: Record<HookName, keyof Operation> = {
  prepareBegin: 'onPrepareBegin',
  prepareFinish: 'onPrepareFinish',
  main: 'onMain',
  complete: 'onComplete',
};

export function hookTaskId(resource: string, hook: HookName): string {
  return `${resource}:${hook}`;
}

/** Builds the tasks and coloured edges; `operationOf` gives each resource's Operation (or none). */
export function buildHookGraph(
  resources: ResourceGraph,
  operationOf: (key: string) => Operation | undefined,
): HookGraph {
  const tasks: TaskSpec<HookTask>[] = [];
  const edges: HookEdge[] = [];
  const edge = (fromKey: string, fromHook: HookName, toKey: string, toHook: HookName, kind: EdgeKind) =>
    edges.push({ from: hookTaskId(fromKey, fromHook), to: hookTaskId(toKey, toHook), kind });

  for (const node of resources.nodes) {
    const op = operationOf(node.key);
    const setup = hookTaskId(node.key, 'prepareBegin');
    for (const hook of ['prepareBegin', 'prepareFinish', 'main', 'complete'] as const) {
      const impl = op?.[METHOD[hook]] as Hook | undefined;
      const data: HookTask = { resource: node.key, hook, impl, timeoutMs: op?.timeoutMs };
      const task: TaskSpec<HookTask> = { id: hookTaskId(node.key, hook), data };
      const teardown = hook === 'prepareFinish' || (hook !== 'prepareBegin' && op?.alwaysRun?.includes(hook));
      if (teardown) {
        task.teardownOf = setup;
        data.teardown = true;
      }
      if (node.resource.host !== undefined) {
        data.host = node.resource.host;
        const idempotent = op?.idempotent;
        data.idempotent = idempotent === true || (Array.isArray(idempotent) && idempotent.includes(hook));
      }
      tasks.push(task);
    }
    edge(node.key, 'prepareBegin', node.key, 'prepareFinish', 'indigo');
    edge(node.key, 'prepareFinish', node.key, 'main', 'yellow');
    edge(node.key, 'main', node.key, 'complete', 'red');
    for (const child of node.children) {
      edge(node.key, 'prepareBegin', child, 'prepareBegin', 'green');
      edge(child, 'prepareFinish', node.key, 'prepareFinish', 'purple');
      edge(child, 'complete', node.key, 'complete', 'black');
    }
  }
  return { tasks, edges };
}

/** The engine graph for a hook graph; `run` turns a hook task into the engine's run function. */
export function toTaskGraph(
  hooks: HookGraph,
  run: (task: HookTask) => TaskSpec<HookTask>['run'],
): TaskGraph<HookTask> {
  const g = new TaskGraph<HookTask>();
  for (const spec of hooks.tasks) {
    const data = spec.data!;
    const withRun: TaskSpec<HookTask> = { ...spec };
    if (data.impl) {
      withRun.run = run(data);
      if (data.timeoutMs !== undefined) withRun.timeout = data.timeoutMs;
    }
    g.add(withRun);
  }
  for (const e of hooks.edges) g.edge(e.from, e.to);
  return g;
}
