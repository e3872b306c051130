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

const HOOKS = ['prepareBegin', 'prepareFinish', 'main', 'complete'] as const satisfies readonly HookName[];

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
  // Each task id made once and shared by its task and edges: the engine looks every edge's
  // ends up by id, and a string hashed once is cheap to look up again.
  const ids = new Map<string, readonly [string, string, string, string]>();
  for (const node of resources.nodes) {
    ids.set(node.key, [
      hookTaskId(node.key, 'prepareBegin'),
      hookTaskId(node.key, 'prepareFinish'),
      hookTaskId(node.key, 'main'),
      hookTaskId(node.key, 'complete'),
    ]);
  }
  const idsOf = (key: string) =>
    ids.get(key) ??
    ([
      hookTaskId(key, 'prepareBegin'),
      hookTaskId(key, 'prepareFinish'),
      hookTaskId(key, 'main'),
      hookTaskId(key, 'complete'),
    ] as const);
  const edge = (from: string, to: string, kind: EdgeKind) => edges.push({ from, to, kind });

  for (const node of resources.nodes) {
    const op = operationOf(node.key);
    const own = ids.get(node.key)!;
    const [pb, pf, m, c] = own;
    for (let h = 0; h < 4; h++) {
      const hook = HOOKS[h]!;
      const impl = op?.[METHOD[hook]] as Hook | undefined;
      const data: HookTask = { resource: node.key, hook, impl, timeoutMs: op?.timeoutMs };
      const task: TaskSpec<HookTask> = { id: own[h]!, data };
      const teardown = hook === 'prepareFinish' || (hook !== 'prepareBegin' && op?.alwaysRun?.includes(hook));
      if (teardown) {
        task.teardownOf = pb;
        data.teardown = true;
      }
      if (node.resource.host !== undefined) {
        data.host = node.resource.host;
        const idempotent = op?.idempotent;
        data.idempotent = idempotent === true || (Array.isArray(idempotent) && idempotent.includes(hook));
      }
      tasks.push(task);
    }
    edge(pb, pf, 'indigo');
    edge(pf, m, 'yellow');
    edge(m, c, 'red');
    for (const child of node.children) {
      const [cpb, cpf, , cc] = idsOf(child);
      edge(pb, cpb, 'green');
      edge(cpf, pf, 'purple');
      edge(cc, c, 'black');
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
