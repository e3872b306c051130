import { HoardError } from '../errors.js';
import type { EdgeCondition, TaskSpec } from './types.js';

/**
 * The graph in the form the scheduler walks: tasks by index, successors in compressed rows
 * (CSR), a topological order and each task's longest remaining path. Built once per graph
 * in O(tasks + edges) and reused by every run of it.
 */
export interface CompiledGraph<D = unknown> {
  readonly specs: readonly TaskSpec<D>[];
  readonly index: ReadonlyMap<string, number>;
  /** Successors of task i are `succ[succStart[i] .. succStart[i + 1])`. */
  readonly succStart: Int32Array;
  readonly succ: Int32Array;
  /** 1 where the edge at the same position of `succ` is a `done` edge. */
  readonly succDone: Uint8Array;
  readonly indegree: Int32Array;
  /** Index of the setup task of a teardown, or -1. */
  readonly setupOf: Int32Array;
  readonly topo: Int32Array;
  /** Estimated duration of the task plus the longest estimated path after it. */
  readonly rank: Float64Array;
  /** Exclusive resources and semaphores by number, if any task names one. */
  readonly resources: Resources | undefined;
  /** Predecessors, built on first use (only teardowns asking for their failures need them). */
  predecessors(): { start: Int32Array; pred: Int32Array };
}

export interface Resources {
  readonly names: readonly string[];
  /** How many tasks may hold each resource at once (1 for `uses`). */
  readonly limits: Int32Array;
  /** Resource numbers each task needs, or undefined for tasks that need none. */
  readonly needs: readonly (Int32Array | undefined)[];
}

export class TaskGraph<D = unknown> {
  private readonly specs: TaskSpec<D>[] = [];
  private readonly ids = new Map<string, number>();
  /** Edges by task index, in growable typed arrays (a large graph has hundreds of thousands). */
  private edges = new Int32Array(1024);
  private edgeInts = 0;
  private doneFlags = new Uint8Array(512);
  /** Edges named before one of their tasks was added; resolved by compile(). */
  private readonly deferred: { from: string; to: string; done: boolean }[] = [];
  private compiled: CompiledGraph<D> | undefined;

  get size(): number {
    return this.specs.length;
  }

  get edgeCount(): number {
    return (this.edgeInts >> 1) + this.deferred.length;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  task(id: string): TaskSpec<D> | undefined {
    const i = this.ids.get(id);
    return i === undefined ? undefined : this.specs[i];
  }

  add(spec: TaskSpec<D>): this {
    if (typeof spec.id !== 'string' || spec.id === '') {
      throw new HoardError('GRAPH_INVALID', 'a task needs a non-empty string id');
    }
    if (this.ids.has(spec.id)) {
      throw new HoardError('GRAPH_INVALID', `task "${spec.id}" is added twice`, {
        details: { task: spec.id },
      });
    }
    this.ids.set(spec.id, this.specs.length);
    this.specs.push(spec);
    this.compiled = undefined;
    return this;
  }

  /** `from` runs before `to`; see {@link EdgeCondition}. Endpoints may be added later. */
  edge(from: string, to: string, condition: EdgeCondition = 'success'): this {
    const a = this.ids.get(from);
    const b = this.ids.get(to);
    if (a === undefined || b === undefined) {
      this.deferred.push({ from, to, done: condition === 'done' });
    } else {
      this.pushEdge(a, b, condition === 'done');
    }
    this.compiled = undefined;
    return this;
  }

  private pushEdge(a: number, b: number, done: boolean): void {
    if (this.edgeInts === this.edges.length) {
      const edges = new Int32Array(this.edges.length * 2);
      edges.set(this.edges);
      this.edges = edges;
      const flags = new Uint8Array(this.doneFlags.length * 2);
      flags.set(this.doneFlags);
      this.doneFlags = flags;
    }
    this.doneFlags[this.edgeInts >> 1] = done ? 1 : 0;
    this.edges[this.edgeInts++] = a;
    this.edges[this.edgeInts++] = b;
  }

  /** Checks the graph (unknown endpoints, bad options, cycles) and builds the run form. */
  compile(): CompiledGraph<D> {
    if (this.compiled) return this.compiled;
    const n = this.specs.length;
    for (const { from, to, done } of this.deferred) {
      this.pushEdge(this.resolve(from, to, from), this.resolve(from, to, to), done);
    }
    this.deferred.length = 0;
    const setupOf = new Int32Array(n).fill(-1);
    const extraFrom: number[] = [];
    const extraTo: number[] = [];
    for (let i = 0; i < n; i++) {
      const spec = this.specs[i]!;
      checkOptions(spec);
      if (spec.teardownOf !== undefined) {
        const s = this.ids.get(spec.teardownOf);
        if (s === undefined || s === i) {
          throw new HoardError(
            'GRAPH_INVALID',
            `task "${spec.id}" is a teardown of "${spec.teardownOf}", which is not another task of the graph`,
            { details: { task: spec.id, setup: spec.teardownOf } },
          );
        }
        setupOf[i] = s;
        extraFrom.push(s);
        extraTo.push(i);
      }
    }

    for (let k = 0; k < extraFrom.length; k++) this.pushEdge(extraFrom[k]!, extraTo[k]!, false);
    const m = this.edgeInts >> 1;
    const edges = this.edges;
    const outdeg = new Int32Array(n + 1);
    const indegree = new Int32Array(n);
    for (let e = 0; e < m; e++) {
      outdeg[edges[2 * e]!]!++;
      indegree[edges[2 * e + 1]!]!++;
    }
    const succStart = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) succStart[i + 1] = succStart[i]! + outdeg[i]!;
    const fill = succStart.slice(0, n);
    const succ = new Int32Array(m);
    const succDone = new Uint8Array(m);
    for (let e = 0; e < m; e++) {
      const at = fill[edges[2 * e]!]!++;
      succ[at] = edges[2 * e + 1]!;
      succDone[at] = this.doneFlags[e]!;
    }
    // The implied setup → teardown edges are not kept: the next compile adds them again.
    this.edgeInts -= 2 * extraFrom.length;

    // Kahn's algorithm: a topological order, or proof of a cycle.
    const remaining = indegree.slice();
    const topo = new Int32Array(n);
    let head = 0;
    let tail = 0;
    for (let i = 0; i < n; i++) if (remaining[i] === 0) topo[tail++] = i;
    while (head < tail) {
      const v = topo[head++]!;
      for (let k = succStart[v]!; k < succStart[v + 1]!; k++) {
        const s = succ[k]!;
        if (--remaining[s]! === 0) topo[tail++] = s;
      }
    }
    if (tail < n) throw this.cycleError(remaining, succStart, succ);

    const rank = new Float64Array(n);
    for (let t = n - 1; t >= 0; t--) {
      const v = topo[t]!;
      let longest = 0;
      for (let k = succStart[v]!; k < succStart[v + 1]!; k++) {
        const r = rank[succ[k]!]!;
        if (r > longest) longest = r;
      }
      rank[v] = (this.specs[v]!.estimate ?? 1) + longest;
    }

    let preds: { start: Int32Array; pred: Int32Array } | undefined;
    const compiled: CompiledGraph<D> = {
      specs: this.specs,
      index: this.ids,
      succStart,
      succ,
      succDone,
      indegree,
      setupOf,
      topo,
      rank,
      resources: compileResources(this.specs),
      predecessors: () => {
        preds ??= reverse(n, succStart, succ);
        return preds;
      },
    };
    this.compiled = compiled;
    return compiled;
  }

  private resolve(from: string, to: string, id: string): number {
    const i = this.ids.get(id);
    if (i === undefined) {
      throw new HoardError('GRAPH_INVALID', `edge "${from}" → "${to}" names an unknown task "${id}"`, {
        details: { from, to, unknown: id },
      });
    }
    return i;
  }

  /**
   * Every task left with a non-zero in-degree after Kahn has a predecessor that is also left,
   * so walking predecessors from any of them must come back to a task already seen.
   */
  private cycleError(remaining: Int32Array, succStart: Int32Array, succ: Int32Array): HoardError {
    const n = this.specs.length;
    const { start, pred } = reverse(n, succStart, succ);
    let v = remaining.findIndex((r) => r > 0);
    const seenAt = new Map<number, number>();
    const walk: number[] = [];
    while (!seenAt.has(v)) {
      seenAt.set(v, walk.length);
      walk.push(v);
      let next = -1;
      for (let k = start[v]!; k < start[v + 1]!; k++) {
        if (remaining[pred[k]!]! > 0) {
          next = pred[k]!;
          break;
        }
      }
      v = next;
    }
    const cycle = walk
      .slice(seenAt.get(v))
      .reverse()
      .map((i) => this.specs[i]!.id);
    cycle.push(cycle[0]!);
    return new HoardError('GRAPH_CYCLE', `the graph has a cycle: ${cycle.join(' → ')}`, {
      details: { cycle },
    });
  }
}

function reverse(
  n: number,
  succStart: Int32Array,
  succ: Int32Array,
): { start: Int32Array; pred: Int32Array } {
  const start = new Int32Array(n + 1);
  for (let k = 0; k < succ.length; k++) start[succ[k]! + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const pred = new Int32Array(succ.length);
  for (let v = 0; v < n; v++) {
    for (let k = succStart[v]!; k < succStart[v + 1]!; k++) pred[fill[succ[k]!]!++] = v;
  }
  return { start, pred };
}

function compileResources<D>(specs: readonly TaskSpec<D>[]): Resources | undefined {
  let ids: Map<string, number> | undefined;
  const names: string[] = [];
  const limits: number[] = [];
  const needs: (Int32Array | undefined)[] = [];
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!;
    if (!spec.uses?.length && !spec.semaphores?.length) continue;
    ids ??= new Map();
    const wanted = new Set<number>();
    const claim = (name: string, limit: number) => {
      let id = ids!.get(name);
      if (id === undefined) {
        id = names.length;
        ids!.set(name, id);
        names.push(name);
        limits.push(limit);
      } else if (limits[id] !== limit) {
        throw new HoardError(
          'GRAPH_INVALID',
          `task "${spec.id}" gives "${name}" a limit of ${limit}, another task gave it ${limits[id]} (a "uses" resource has 1)`,
          { details: { task: spec.id, resource: name } },
        );
      }
      wanted.add(id);
    };
    for (const name of spec.uses ?? []) claim(name, 1);
    for (const { group, limit } of spec.semaphores ?? []) claim(group, limit);
    needs[i] = Int32Array.from(wanted);
  }
  if (!ids) return undefined;
  needs.length = specs.length;
  return { names, limits: Int32Array.from(limits), needs };
}

function bad<D>(spec: TaskSpec<D>, field: string, expected: string): HoardError {
  return new HoardError('GRAPH_INVALID', `task "${spec.id}": ${field} must be ${expected}`, {
    details: { task: spec.id, field },
  });
}

/** Checks a task's options; called for every task of every compile, so it allocates nothing when they are good. */
function checkOptions<D>(spec: TaskSpec<D>): void {
  if (spec.run !== undefined && typeof spec.run !== 'function') throw bad(spec, 'run', 'a function');
  if (spec.priority !== undefined && !Number.isFinite(spec.priority))
    throw bad(spec, 'priority', 'a finite number');
  if (spec.estimate !== undefined && !(spec.estimate >= 0 && Number.isFinite(spec.estimate))) {
    throw bad(spec, 'estimate', 'a number ≥ 0');
  }
  if (spec.timeout !== undefined && !(spec.timeout > 0))
    throw bad(spec, 'timeout', 'a number of milliseconds > 0');
  if (spec.retry !== undefined && !(Number.isInteger(spec.retry.retries) && spec.retry.retries >= 0)) {
    throw bad(spec, 'retry.retries', 'an integer ≥ 0');
  }
  if (!spec.semaphores) return;
  for (const s of spec.semaphores) {
    if (!(Number.isInteger(s.limit) && s.limit >= 1))
      throw bad(spec, `semaphore "${s.group}" limit`, 'an integer ≥ 1');
  }
}
