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

  /**
   * The graph of `keys` alone (a partial restore): each kept resource's children are its
   * nearest kept descendants, so an order the whole graph implies between two kept resources
   * still holds when the resources between them are left out. Every key must be a node.
   */
  subgraph(keys: Iterable<string>): ResourceGraph {
    const kept = new Set(keys);
    const nearest = new Map<string, string[]>();
    // Children before parents: a node's nearest kept descendants are known when it is reached.
    for (const node of [...this.nodes].reverse()) {
      const found: string[] = [];
      for (const child of node.children)
        for (const key of kept.has(child) ? [child] : nearest.get(child)!)
          if (!found.includes(key)) found.push(key);
      nearest.set(node.key, found);
    }
    return buildGraph(
      this.nodes
        .filter((n) => kept.has(n.key))
        .map((n) => ({ resource: n.resource, children: nearest.get(n.key)! })),
      'partial graph',
    );
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

/** How long a protectable may take to give a resource's dependents, by default (HOARD_DISCOVERY_TIMEOUT_MS). */
export const DISCOVERY_TIMEOUT_MS = 120_000;

export interface DiscoverOptions {
  /** Aborts discovery (and the protectable's signal). */
  signal?: AbortSignal;
  /** Names the plan in errors. */
  source?: string;
  /**
   * Milliseconds one `getDependentResources` call may take; past it the protectable's signal
   * aborts and discovery fails with HOOK_TIMEOUT, whether or not it stops. Default
   * HOARD_DISCOVERY_TIMEOUT_MS, else {@link DISCOVERY_TIMEOUT_MS}.
   */
  timeoutMs?: number;
}

/**
 * Builds the graph from the plan's resources, then asks each type's protectable for
 * dependents, recursively. A discovered resource already in the graph is linked, not
 * added twice. Cycles are rejected with their path before anything runs. A protectable
 * that throws (anything), returns something that is not a list of resources, or does not
 * answer in time fails discovery with an error naming it and the resource, and nothing runs.
 */
export async function discoverGraph(
  planned: GraphInput[],
  protectables: ReadonlyMap<string, Protectable & { plugin?: string }>,
  options: DiscoverOptions = {},
): Promise<ResourceGraph> {
  const timeoutMs =
    options.timeoutMs ?? (Number(process.env.HOARD_DISCOVERY_TIMEOUT_MS) || DISCOVERY_TIMEOUT_MS);
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
    const found = await dependentsOf(protectable, input.resource, key, timeoutMs, options.signal);
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

/** One call of `getDependentResources`, bounded in time and checked. */
async function dependentsOf(
  protectable: Protectable & { plugin?: string },
  resource: Resource,
  key: string,
  timeoutMs: number,
  outer: AbortSignal | undefined,
): Promise<Resource[]> {
  const who = protectable.plugin
    ? `plugin "${protectable.plugin}" (the protectable of ${protectable.type})`
    : `the protectable of ${protectable.type}`;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new HoardError(
        'HOOK_TIMEOUT',
        `could not discover the dependents of ${key}: ${who} did not answer within ${timeoutMs} ms`,
        { details: { resource: key, type: protectable.type, plugin: protectable.plugin, timeoutMs } },
      );
      controller.abort(error);
      reject(error);
    }, timeoutMs);
    onAbort = () => {
      controller.abort(outer!.reason);
      reject(outer!.reason);
    };
    if (outer?.aborted) onAbort();
    else outer?.addEventListener('abort', onAbort, { once: true });
  });
  let found: unknown;
  try {
    found = await Promise.race([
      (async () => protectable.getDependentResources!(resource, { signal: controller.signal }))(),
      stopped,
    ]);
  } catch (error) {
    if (error instanceof HoardError && error.code === 'HOOK_TIMEOUT' && controller.signal.reason === error)
      throw error;
    if (outer?.aborted && error === outer.reason) throw error;
    const message = error instanceof Error ? error.message : `${who} threw ${String(error)}, not an Error`;
    throw new HoardError('DISCOVERY_FAILED', `could not discover the dependents of ${key}: ${message}`, {
      details: { resource: key, type: protectable.type, plugin: protectable.plugin },
      cause: error,
    });
  } finally {
    clearTimeout(timer);
    if (onAbort) outer?.removeEventListener('abort', onAbort);
  }
  const problem = resourcesProblem(found);
  if (problem) {
    throw new HoardError(
      'DISCOVERY_FAILED',
      `could not discover the dependents of ${key}: ${who} returned ${problem}`,
      { details: { resource: key, type: protectable.type, plugin: protectable.plugin } },
    );
  }
  return found as Resource[];
}

function resourcesProblem(found: unknown): string | undefined {
  if (!Array.isArray(found)) return `${found === null ? 'null' : typeof found}, not a list of resources`;
  for (const [i, r] of found.entries()) {
    const bad = (what: string) => `a list whose item ${i} ${what}`;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) return bad('is not a resource {type, id}');
    const { type, id, name, extra } = r as Record<string, unknown>;
    if (typeof type !== 'string' || type === '' || type.includes('#'))
      return bad('has no type (a non-empty string without "#")');
    if (typeof id !== 'string' || id === '') return bad('has no id (a non-empty string)');
    if (name !== undefined && typeof name !== 'string') return bad('has a name that is not a string');
    if (extra !== undefined && (typeof extra !== 'object' || extra === null || Array.isArray(extra)))
      return bad('has extra fields that are not an object');
  }
  return undefined;
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
