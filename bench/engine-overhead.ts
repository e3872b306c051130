/**
 * Engine overhead: how much a scheduler costs per task when the tasks themselves do nothing.
 *
 * The graph is the hook graph of a resource tree (fan-out 5): per resource PB → PF → M → C,
 * and for each parent P and child K the edges PB(P) → PB(K), PF(K) → PF(P), C(K) → C(P).
 * Every implementation gets the same ids and edge list and is timed from that list to the
 * end of the run (building its graph is part of the cost a caller pays).
 *
 * `node build/bench/engine-overhead.js IMPL RESOURCES CONCURRENCY` measures one cell in a
 * fresh process (so peak RSS belongs to that cell) and prints one JSON line.
 */
import asyncLib from 'async';
import { PGraph } from 'p-graph';
import { runGraph, TaskGraph } from '../src/engine/index.js';
import { median, peakRssMiB, round } from './lib.js';

export interface TreeGraph {
  ids: string[];
  edges: [string, string][];
}

export function hookTree(resources: number, fanout = 5): TreeGraph {
  const ids: string[] = [];
  const edges: [string, string][] = [];
  const hook = (r: number, h: string) => `${r}:${h}`;
  for (let r = 0; r < resources; r++) {
    for (const h of ['PB', 'PF', 'M', 'C']) ids.push(hook(r, h));
    edges.push([hook(r, 'PB'), hook(r, 'PF')], [hook(r, 'PF'), hook(r, 'M')], [hook(r, 'M'), hook(r, 'C')]);
    if (r > 0) {
      const p = Math.floor((r - 1) / fanout);
      edges.push(
        [hook(p, 'PB'), hook(r, 'PB')],
        [hook(r, 'PF'), hook(p, 'PF')],
        [hook(r, 'C'), hook(p, 'C')],
      );
    }
  }
  return { ids, edges };
}

const noop = async (): Promise<void> => {};

type Impl = (graph: TreeGraph, concurrency: number) => Promise<void>;

export const implementations: Record<string, Impl> = {
  async hoard({ ids, edges }, concurrency) {
    const g = new TaskGraph();
    for (const id of ids) g.add({ id, run: noop });
    for (const [a, b] of edges) g.edge(a, b);
    const result = await runGraph(g, concurrency > 0 ? { concurrency } : {});
    if (result.counts.succeeded !== ids.length) throw new Error('hoard: not every task succeeded');
  },

  async 'p-graph'({ ids, edges }, concurrency) {
    const nodes = new Map(ids.map((id) => [id, { run: noop }]));
    await new PGraph(nodes, edges).run(concurrency > 0 ? { concurrency } : {});
  },

  async 'async.auto'({ ids, edges }, concurrency) {
    const deps = new Map<string, string[]>(ids.map((id) => [id, []]));
    for (const [a, b] of edges) deps.get(b)!.push(a);
    const tasks: Record<string, unknown[]> = {};
    for (const id of ids) {
      const before = deps.get(id)!;
      // async.auto passes (results, callback) to tasks with dependencies and (callback) to roots.
      const fn = before.length
        ? (_results: unknown, cb: () => void) => void noop().then(() => cb())
        : (cb: () => void) => void noop().then(() => cb());
      tasks[id] = [...before, fn];
    }
    await asyncLib.auto(tasks as never, concurrency > 0 ? concurrency : Number.POSITIVE_INFINITY);
  },

  /** The floor: Kahn's algorithm over integer arrays, no states, no events, no checks. */
  async 'bare-kahn'({ ids, edges }, concurrency) {
    const index = new Map(ids.map((id, i) => [id, i]));
    const n = ids.length;
    const succ: number[][] = Array.from({ length: n }, () => []);
    const waiting = new Int32Array(n);
    for (const [a, b] of edges) {
      succ[index.get(a)!]!.push(index.get(b)!);
      waiting[index.get(b)!]!++;
    }
    const limit = concurrency > 0 ? concurrency : Number.POSITIVE_INFINITY;
    await new Promise<void>((resolve) => {
      const queue: number[] = [];
      let head = 0;
      let running = 0;
      let done = 0;
      const pump = () => {
        while (head < queue.length && running < limit) {
          const v = queue[head++]!;
          running++;
          noop().then(() => {
            running--;
            done++;
            for (const s of succ[v]!) if (--waiting[s]! === 0) queue.push(s);
            if (done === n) resolve();
            else pump();
          });
        }
      };
      for (let i = 0; i < n; i++) if (waiting[i] === 0) queue.push(i);
      pump();
    });
  },
};

async function measureCell(impl: string, resources: number, concurrency: number): Promise<void> {
  const run = implementations[impl];
  if (!run) throw new Error(`unknown implementation ${impl}`);
  const graph = hookTree(resources);
  const repeats = resources >= 50_000 || impl === 'async.auto' ? 3 : 7;
  // Warm the JIT with about as many tasks as the largest graph has, so small graphs are
  // measured in steady state too, not while the code is still being compiled.
  // async.auto is too slow for that (it is quadratic): one warm-up is plenty there.
  const warmups =
    impl === 'async.auto' ? 1 : Math.min(50, Math.max(1, Math.ceil(200_000 / graph.ids.length)));
  for (let i = 0; i < warmups; i++) await run(graph, concurrency);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    globalThis.gc?.();
    const start = performance.now();
    await run(graph, concurrency);
    times.push(performance.now() - start);
  }
  const ms = median(times);
  process.stdout.write(
    `${JSON.stringify({
      impl,
      resources,
      tasks: graph.ids.length,
      edges: graph.edges.length,
      concurrency: concurrency > 0 ? concurrency : 'unlimited',
      ms: round(ms, 1),
      usPerTask: round((ms * 1000) / graph.ids.length, 3),
      peakRssMiB: peakRssMiB(),
    })}\n`,
  );
}

if (process.argv[1]?.endsWith('engine-overhead.js') && process.argv.length >= 5) {
  const [impl, resources, concurrency] = process.argv.slice(2);
  await measureCell(impl!, Number(resources), Number(concurrency));
}
