import { TaskGraph } from '../engine/index.js';
import { HoardError } from '../errors.js';
import type { Protectable } from './protectable.js';
import { type Resource, resourceKey } from './resource.js';

export interface ResourceNode {
  key: string;
  resource: Resource;
  /** Keys of the resources this one depends on (its children), in declaration order. */
  children: string[];
  parents: string[];
}

/**
 * The resource graph: a DAG of resources, each once (a child shared by two parents is one
 * node), in an order where every parent comes before its children.
 */
export class ResourceGraph {
  private readonly byKey: Map<string, ResourceNode>;

  constructor(
    /** Nodes in topological order: parents before children. */
    readonly nodes: readonly ResourceNode[],
  ) {
    this.byKey = new Map(nodes.map((n) => [n.key, n]));
  }

  get(key: string): ResourceNode | undefined {
    return this.byKey.get(key);
  }

  get roots(): ResourceNode[] {
    return this.nodes.filter((n) => n.parents.length === 0);
  }

  /** The serialisable form stored in a checkpoint. */
  toJSON(): { resources: (Resource & { children: string[] })[] } {
    return { resources: this.nodes.map((n) => ({ ...n.resource, children: n.children })) };
  }

  static fromJSON(json: { resources: (Resource & { children?: string[] })[] }): ResourceGraph {
    return buildGraph(
      json.resources.map(({ children, ...resource }) => ({ resource, children: children ?? [] })),
      'checkpoint',
    );
  }
}

export interface GraphInput {
  resource: Resource;
  /** `type#id` keys of children. */
  children: string[];
}

/**
 * Builds the graph from the plan's resources, then asks each type's protectable for
 * dependents, recursively. A discovered resource already in the graph is linked, not
 * added twice. Cycles are rejected with their path before anything runs.
 */
export async function discoverGraph(
  planned: GraphInput[],
  protectables: ReadonlyMap<string, Protectable>,
  options: { signal?: AbortSignal; source?: string } = {},
): Promise<ResourceGraph> {
  const inputs = new Map<string, GraphInput>();
  for (const input of planned)
    inputs.set(resourceKey(input.resource), { ...input, children: [...input.children] });
  const queue = [...inputs.keys()];
  const asked = new Set<string>();
  while (queue.length > 0) {
    const key = queue.shift()!;
    if (asked.has(key)) continue;
    asked.add(key);
    const input = inputs.get(key)!;
    const protectable = protectables.get(input.resource.type);
    if (!protectable?.getDependentResources) continue;
    const signalOption = options.signal ? { signal: options.signal } : {};
    let found: Resource[];
    try {
      found = await protectable.getDependentResources(input.resource, signalOption);
    } catch (error) {
      throw new HoardError(
        'PLAN_INVALID',
        `could not discover the dependents of ${key}: ${(error as Error).message}`,
        {
          details: { resource: key },
          cause: error,
        },
      );
    }
    for (const child of found) {
      const childKey = resourceKey(child);
      if (!input.children.includes(childKey)) input.children.push(childKey);
      if (!inputs.has(childKey)) {
        inputs.set(childKey, { resource: child, children: [] });
        queue.push(childKey);
      }
    }
  }
  return buildGraph([...inputs.values()], options.source ?? 'plan');
}

/** Links inputs into a graph; rejects dangling children and cycles. */
export function buildGraph(inputs: GraphInput[], source: string): ResourceGraph {
  const byKey = new Map<string, ResourceNode>();
  for (const { resource } of inputs) {
    const key = resourceKey(resource);
    if (byKey.has(key)) {
      throw new HoardError('PLAN_INVALID', `${source}: resource ${key} is listed twice`, {
        details: { resource: key },
      });
    }
    byKey.set(key, { key, resource, children: [], parents: [] });
  }
  const g = new TaskGraph();
  for (const key of byKey.keys()) g.add({ id: key });
  for (const { resource, children } of inputs) {
    const key = resourceKey(resource);
    const node = byKey.get(key)!;
    for (const childKey of children) {
      const child = byKey.get(childKey);
      if (!child) {
        throw new HoardError(
          'PLAN_INVALID',
          `${source}: resource ${key} names a child ${childKey} that is not a resource of the plan`,
          {
            details: { resource: key, child: childKey },
          },
        );
      }
      if (node.children.includes(childKey)) continue;
      node.children.push(childKey);
      child.parents.push(key);
      g.edge(key, childKey);
    }
  }
  let order: Int32Array;
  try {
    order = g.compile().topo;
  } catch (error) {
    if (error instanceof HoardError && error.code === 'GRAPH_CYCLE') {
      const cycle = error.details?.cycle as string[];
      throw new HoardError('PLAN_INVALID', `${source}: the resources form a cycle: ${cycle.join(' → ')}`, {
        details: { cycle },
      });
    }
    throw error;
  }
  const keys = [...byKey.keys()];
  return new ResourceGraph([...order].map((i) => byKey.get(keys[i]!)!));
}
